package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind    router.UserKind
		menu    string
		profMen string
		user    router.User
		wantRow map[string]string
		wantOut router.User // as UpsertUser returns it
	}{
		{
			kind: router.KindHotspot, menu: hsUser, profMen: hsProfile,
			user: router.User{
				Kind: router.KindHotspot, Name: "alice", Password: "alice-pw-1", Profile: "gold",
				LimitUptime: 30 * time.Hour, LimitBytesTotal: 5 << 30, MACAddress: "aa:bb:cc:00:11:22",
				Comment: "customer 7 Alice",
				// PPP fields are ignored for hotspot users.
				Service: "pppoe",
			},
			wantRow: map[string]string{
				"password": "alice-pw-1", "profile": "gold", "limit-uptime": "1d6h", "limit-bytes-total": "5368709120",
				"mac-address": "AA:BB:CC:00:11:22", "comment": "mikrobill: customer 7 Alice", "disabled": "false",
			},
			wantOut: router.User{
				Kind: router.KindHotspot, Name: "alice", Profile: "gold", LimitUptime: 30 * time.Hour,
				LimitBytesTotal: 5 << 30, MACAddress: "AA:BB:CC:00:11:22", Comment: "customer 7 Alice", Managed: true,
			},
		},
		{
			kind: router.KindPPP, menu: pppSecret, profMen: pppProf,
			user: router.User{
				Kind: router.KindPPP, Name: "bob", Password: "bob-pw-1", Profile: "gold", Service: "pppoe",
				RemoteAddress: "10.9.0.7",
				// Hotspot limits are ignored for PPP secrets (the host sends
				// a plan's limits whatever its kind).
				LimitUptime: time.Hour, LimitBytesTotal: 1000,
			},
			wantRow: map[string]string{
				"password": "bob-pw-1", "profile": "gold", "service": "pppoe", "remote-address": "10.9.0.7",
				"comment": "mikrobill", "disabled": "false",
			},
			wantOut: router.User{
				Kind: router.KindPPP, Name: "bob", Profile: "gold", Service: "pppoe", RemoteAddress: "10.9.0.7", Managed: true,
			},
		},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			p, r, _ := setup(t, routertest.Options{})
			ctx := ctxT(t)
			must[*router.EnsureProfileResponse](t, "EnsureProfile")(p.EnsureProfile(ctx, &router.EnsureProfileRequest{
				Location: "main", Profile: router.Profile{Kind: tc.kind, Name: "gold", RateLimit: "2M/4M"},
			}))
			req := &router.UpsertUserRequest{Location: "main", User: tc.user}

			up := must[*router.UpsertUserResponse](t, "UpsertUser")(p.UpsertUser(ctx, req))
			if !up.Created || !up.Changed {
				t.Errorf("first UpsertUser: Created %v Changed %v, want both true", up.Created, up.Changed)
			}
			if diff := cmp.Diff(tc.wantOut, up.User); diff != "" {
				t.Errorf("UpsertUser user (-want +got):\n%s", diff)
			}
			row, ok := r.Find(tc.menu, tc.user.Name)
			if !ok {
				t.Fatal("user not on the router")
			}
			for k, v := range tc.wantRow {
				if row[k] != v {
					t.Errorf("router %s = %q, want %q", k, row[k], v)
				}
			}
			for _, k := range []string{"limit-uptime", "limit-bytes-total", "mac-address", "server", "service", "remote-address"} {
				if _, want := tc.wantRow[k]; !want && row[k] != "" && row[k] != "any" {
					t.Errorf("router has %s = %q, which the plugin should not have written", k, row[k])
				}
			}

			// Idempotent: the same upsert writes nothing.
			before := writes(r, tc.menu)
			up = must[*router.UpsertUserResponse](t, "second UpsertUser")(p.UpsertUser(ctx, req))
			if up.Created || up.Changed {
				t.Errorf("second UpsertUser: Created %v Changed %v, want both false", up.Created, up.Changed)
			}
			if n := writes(r, tc.menu) - before; n != 0 {
				t.Errorf("second UpsertUser sent %d writes, want none", n)
			}

			// A new password is set, and only it.
			req.User.Password = "new-pw-2"
			up = must[*router.UpsertUserResponse](t, "UpsertUser new password")(p.UpsertUser(ctx, req))
			if up.Created || !up.Changed {
				t.Errorf("password change: Created %v Changed %v", up.Created, up.Changed)
			}
			cmds := r.Commands()
			last := cmds[len(cmds)-2] // the set, then the re-read
			if last.Word != tc.menu+"/set" || len(last.Attrs) != 2 || last.Attrs["password"] != "new-pw-2" {
				t.Errorf("password change sent %+v, want a set of the password only", last)
			}

			// GetUser and ListUsers never return the password.
			got := must[*router.GetUserResponse](t, "GetUser")(p.GetUser(ctx, &router.GetUserRequest{User: router.UserRef{Location: "main", Kind: tc.kind, Name: tc.user.Name}}))
			if diff := cmp.Diff(tc.wantOut, got.User); diff != "" {
				t.Errorf("GetUser (-want +got):\n%s", diff)
			}
			_, err := p.GetUser(ctx, &router.GetUserRequest{User: router.UserRef{Location: "main", Kind: tc.kind, Name: "nobody"}})
			wantErr(t, "GetUser nobody", err, sdk.ErrNotFound)

			r.Add(tc.menu, map[string]string{"name": "theirs", "comment": "set up by hand"})
			all := must[*router.ListUsersResponse](t, "ListUsers")(p.ListUsers(ctx, &router.ListUsersRequest{Location: "main", Kind: tc.kind}))
			mine := must[*router.ListUsersResponse](t, "ListUsers managed")(p.ListUsers(ctx, &router.ListUsersRequest{Location: "main", Kind: tc.kind, ManagedOnly: true}))
			if len(all.Users) != 2 || len(mine.Users) != 1 || mine.Users[0].Name != tc.user.Name || all.Users[1].Managed || all.Users[1].Comment != "set up by hand" {
				t.Errorf("ListUsers = %+v, managed only %+v", all.Users, mine.Users)
			}
			both := must[*router.ListUsersResponse](t, "ListUsers both kinds")(p.ListUsers(ctx, &router.ListUsersRequest{Location: "main"}))
			if len(both.Users) != 2 {
				t.Errorf("ListUsers of both kinds = %+v", both.Users)
			}

			ref := router.UserRef{Location: "main", Kind: tc.kind, Name: tc.user.Name}

			// Disable, enable, each twice.
			dis := must[*router.DisableUserResponse](t, "DisableUser")(p.DisableUser(ctx, &router.DisableUserRequest{User: ref}))
			if row, _ := r.Find(tc.menu, tc.user.Name); !dis.Changed || row["disabled"] != "true" {
				t.Errorf("DisableUser: %+v, router disabled=%q", dis, row["disabled"])
			}
			before = writes(r, tc.menu)
			if dis := must[*router.DisableUserResponse](t, "DisableUser again")(p.DisableUser(ctx, &router.DisableUserRequest{User: ref})); dis.Changed {
				t.Error("DisableUser again: Changed true")
			}
			// An upsert that says disabled=false (the default) enables again;
			// with Disabled it leaves the user as it is.
			req.User.Disabled = true
			if up := must[*router.UpsertUserResponse](t, "UpsertUser disabled")(p.UpsertUser(ctx, req)); up.Changed || !up.User.Disabled {
				t.Errorf("UpsertUser of the disabled user with Disabled: %+v", up)
			}
			if n := writes(r, tc.menu) - before; n != 0 {
				t.Errorf("%d writes, want none", n)
			}
			en := must[*router.EnableUserResponse](t, "EnableUser")(p.EnableUser(ctx, &router.EnableUserRequest{User: ref}))
			if row, _ := r.Find(tc.menu, tc.user.Name); !en.Changed || row["disabled"] != "false" {
				t.Errorf("EnableUser: %+v, router disabled=%q", en, row["disabled"])
			}
			if en := must[*router.EnableUserResponse](t, "EnableUser again")(p.EnableUser(ctx, &router.EnableUserRequest{User: ref})); en.Changed {
				t.Error("EnableUser again: Changed true")
			}
			_, err = p.EnableUser(ctx, &router.EnableUserRequest{User: router.UserRef{Location: "main", Kind: tc.kind, Name: "nobody"}})
			wantErr(t, "EnableUser nobody", err, sdk.ErrNotFound)

			// Isolate: the profile must exist.
			_, err = p.IsolateUser(ctx, &router.IsolateUserRequest{User: ref, IsolationProfile: "isolated"})
			wantErr(t, "IsolateUser to a missing profile", err, sdk.ErrFailedPrecondition)
			r.Add(tc.profMen, map[string]string{"name": "isolated", "address-list": "unpaid"})
			iso := must[*router.IsolateUserResponse](t, "IsolateUser")(p.IsolateUser(ctx, &router.IsolateUserRequest{User: ref, IsolationProfile: "isolated"}))
			if row, _ := r.Find(tc.menu, tc.user.Name); !iso.Changed || row["profile"] != "isolated" {
				t.Errorf("IsolateUser: %+v, router profile=%q", iso, row["profile"])
			}
			if iso := must[*router.IsolateUserResponse](t, "IsolateUser again")(p.IsolateUser(ctx, &router.IsolateUserRequest{User: ref, IsolationProfile: "isolated"})); iso.Changed {
				t.Error("IsolateUser again: Changed true")
			}

			// Remove, twice.
			rm := must[*router.RemoveUserResponse](t, "RemoveUser")(p.RemoveUser(ctx, &router.RemoveUserRequest{User: ref}))
			if _, still := r.Find(tc.menu, tc.user.Name); !rm.Removed || still {
				t.Errorf("RemoveUser: %+v, still there %v", rm, still)
			}
			if rm := must[*router.RemoveUserResponse](t, "RemoveUser again")(p.RemoveUser(ctx, &router.RemoveUserRequest{User: ref})); rm.Removed {
				t.Error("RemoveUser again: Removed true")
			}
		})
	}
}

func TestUpsertUserRefusals(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		user router.User
		want error
	}{
		{"no kind", router.User{Name: "a"}, sdk.ErrInvalidArgument},
		{"no name", router.User{Kind: router.KindHotspot}, sdk.ErrInvalidArgument},
		{"bad mac", router.User{Kind: router.KindHotspot, Name: "a", MACAddress: "nope"}, sdk.ErrInvalidArgument},
		{"bad address", router.User{Kind: router.KindPPP, Name: "a", RemoteAddress: "10.0.0"}, sdk.ErrInvalidArgument},
		{"newline", router.User{Kind: router.KindPPP, Name: "a", Password: "x\ny"}, sdk.ErrInvalidArgument},
		// The router's trap for a profile that does not exist.
		{"missing profile", router.User{Kind: router.KindHotspot, Name: "a", Profile: "platinum"}, sdk.ErrFailedPrecondition},
	} {
		_, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: tc.user})
		wantErr(t, tc.name, err, tc.want)
	}
	if _, ok := r.Find(hsUser, "a"); ok {
		t.Error("a refused user is on the router")
	}
}

// Entries the plugin did not create are never written to.
func TestNotManagedUntouched(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	ctx := ctxT(t)
	r.Add(hsUser, map[string]string{"name": "staff", "password": "staff-pw", "comment": "office laptop"})
	r.Add(pppSecret, map[string]string{"name": "tower", "password": "tower-pw"})
	r.Add(hsProfile, map[string]string{"name": "vip", "rate-limit": "50M/50M", "comment": "by hand"})
	r.Add(pppProf, map[string]string{"name": "isolated"})
	r.Add(hsActive, map[string]string{"user": "staff", "address": "10.5.50.9"})
	before := map[string]map[string]string{}
	for _, m := range []string{hsUser, pppSecret, hsProfile, pppProf} {
		for _, row := range r.Rows(m) {
			before[m+" "+row["name"]] = row
		}
	}
	hs := router.UserRef{Location: "main", Kind: router.KindHotspot, Name: "staff"}
	ppp := router.UserRef{Location: "main", Kind: router.KindPPP, Name: "tower"}
	calls := map[string]func() error{
		"UpsertUser hotspot": func() error {
			_, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: router.User{Kind: router.KindHotspot, Name: "staff", Password: "x"}})
			return err
		},
		"UpsertUser ppp": func() error {
			_, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: router.User{Kind: router.KindPPP, Name: "tower", Password: "x"}})
			return err
		},
		"EnsureProfile": func() error {
			_, err := p.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: router.Profile{Kind: router.KindHotspot, Name: "vip"}})
			return err
		},
		"RemoveProfile": func() error {
			_, err := p.RemoveProfile(ctx, &router.RemoveProfileRequest{Location: "main", Kind: router.KindPPP, Name: "isolated"})
			return err
		},
		"EnableUser": func() error {
			_, err := p.EnableUser(ctx, &router.EnableUserRequest{User: hs})
			return err
		},
		"DisableUser": func() error {
			_, err := p.DisableUser(ctx, &router.DisableUserRequest{User: hs, Disconnect: true})
			return err
		},
		"RemoveUser": func() error {
			_, err := p.RemoveUser(ctx, &router.RemoveUserRequest{User: ppp, Disconnect: true})
			return err
		},
		"IsolateUser": func() error {
			_, err := p.IsolateUser(ctx, &router.IsolateUserRequest{User: ppp, IsolationProfile: "isolated", Disconnect: true})
			return err
		},
	}
	for name, call := range calls {
		wantErr(t, name, call(), router.ErrNotManaged, sdk.ErrPermissionDenied)
	}
	for _, c := range r.Commands() {
		switch c.Word {
		case "/login", "/system/resource/print":
			continue
		}
		if !strings.HasSuffix(c.Word, "/print") {
			t.Errorf("sent %s %v to entries that are not ours", c.Word, c.Attrs)
		}
	}
	for _, m := range []string{hsUser, pppSecret, hsProfile, pppProf} {
		for _, row := range r.Rows(m) {
			if b, ok := before[m+" "+row["name"]]; ok {
				if diff := cmp.Diff(b, row); diff != "" {
					t.Errorf("%s %s changed (-before +after):\n%s", m, row["name"], diff)
				}
			}
		}
	}
	if len(r.Rows(hsActive)) != 1 {
		t.Error("the session of a user that is not ours was ended")
	}
}

// RouterOS 6 prints durations as "1d06:00:00": still idempotent.
func TestRouterOS6Durations(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{Version: "6.49.10 (long-term)", LegacyDurations: true})
	ctx := ctxT(t)
	prof := &router.EnsureProfileRequest{Location: "main", Profile: router.Profile{
		Kind: router.KindHotspot, Name: "day", SessionTimeout: 26 * time.Hour, IdleTimeout: 10 * time.Minute,
	}}
	user := &router.UpsertUserRequest{Location: "main", User: router.User{
		Kind: router.KindHotspot, Name: "carol", Password: "pw", Profile: "day", LimitUptime: 90 * time.Minute,
	}}
	must[*router.EnsureProfileResponse](t, "EnsureProfile")(p.EnsureProfile(ctx, prof))
	must[*router.UpsertUserResponse](t, "UpsertUser")(p.UpsertUser(ctx, user))
	if row, _ := r.Find(hsProfile, "day"); row["session-timeout"] != "1d02:00:00" {
		t.Fatalf("the fake does not print RouterOS 6 durations: %v", row)
	}
	before := writes(r, hsProfile) + writes(r, hsUser)
	if resp := must[*router.EnsureProfileResponse](t, "EnsureProfile again")(p.EnsureProfile(ctx, prof)); resp.Changed || resp.Profile.SessionTimeout != 26*time.Hour {
		t.Errorf("EnsureProfile again: %+v", resp)
	}
	if resp := must[*router.UpsertUserResponse](t, "UpsertUser again")(p.UpsertUser(ctx, user)); resp.Changed || resp.User.LimitUptime != 90*time.Minute {
		t.Errorf("UpsertUser again: %+v", resp)
	}
	if n := writes(r, hsProfile) + writes(r, hsUser) - before; n != 0 {
		t.Errorf("%d writes the second time, want none", n)
	}
	res := must[*router.GetResourcesResponse](t, "GetResources")(p.GetResources(ctx, &router.GetResourcesRequest{Location: "main"}))
	if res.Resources.Version != "6.49.10 (long-term)" {
		t.Errorf("version %q", res.Resources.Version)
	}
}
