package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func TestEnsureProfile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind      router.UserKind
		menu      string
		profile   router.Profile
		wantRow   map[string]string // attributes the router must hold
		change    func(*router.Profile)
		wantSet   map[string]string // the one set's attributes after change
		wantUnset []string
	}{
		{
			kind: router.KindHotspot, menu: hsProfile,
			profile: router.Profile{
				Kind: router.KindHotspot, Name: "gold", RateLimit: "2M/4M", SharedUsers: 2,
				SessionTimeout: 90 * time.Minute, IdleTimeout: 5 * time.Minute,
				RemoteAddress: "hs-pool", AddressList: "paying", Comment: "plan Gold",
			},
			wantRow: map[string]string{
				"rate-limit": "2M/4M", "shared-users": "2", "session-timeout": "1h30m", "idle-timeout": "5m",
				"address-pool": "hs-pool", "address-list": "paying", "comment": "mikrobill: plan Gold",
			},
			change:    func(p *router.Profile) { p.RateLimit = "4M/8M"; p.AddressList = "" },
			wantSet:   map[string]string{".id": "", "rate-limit": "4M/8M"},
			wantUnset: []string{"address-list"},
		},
		{
			kind: router.KindPPP, menu: pppProf,
			profile: router.Profile{
				Kind: router.KindPPP, Name: "home-10m", RateLimit: "5M/10M", SharedUsers: 1,
				SessionTimeout: 24 * time.Hour, LocalAddress: "10.0.0.1", RemoteAddress: "ppp-pool",
				AddressList: "ppp-users",
			},
			wantRow: map[string]string{
				"rate-limit": "5M/10M", "only-one": "yes", "session-timeout": "1d", "local-address": "10.0.0.1",
				"remote-address": "ppp-pool", "address-list": "ppp-users", "comment": "mikrobill",
			},
			change:  func(p *router.Profile) { p.SessionTimeout = 12 * time.Hour; p.SharedUsers = 0 },
			wantSet: map[string]string{".id": "", "session-timeout": "12h", "only-one": "default"},
		},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			p, r, _ := setup(t, routertest.Options{})
			ctx := ctxT(t)
			req := &router.EnsureProfileRequest{Location: "main", Profile: tc.profile}

			resp := must[*router.EnsureProfileResponse](t, "EnsureProfile")(p.EnsureProfile(ctx, req))
			if !resp.Changed {
				t.Error("first EnsureProfile: Changed false, want true")
			}
			want := tc.profile
			want.Managed = true
			if diff := cmp.Diff(want, resp.Profile); diff != "" {
				t.Errorf("first EnsureProfile profile (-want +got):\n%s", diff)
			}
			row, ok := r.Find(tc.menu, tc.profile.Name)
			if !ok {
				t.Fatalf("profile %q not on the router", tc.profile.Name)
			}
			for k, v := range tc.wantRow {
				if row[k] != v {
					t.Errorf("router %s = %q, want %q (row %v)", k, row[k], v, row)
				}
			}
			if n := r.CountCommands(tc.menu + "/add"); n != 1 {
				t.Errorf("%d add commands, want 1", n)
			}

			// The same ensure again writes nothing.
			before := writes(r, tc.menu)
			resp = must[*router.EnsureProfileResponse](t, "second EnsureProfile")(p.EnsureProfile(ctx, req))
			if resp.Changed {
				t.Error("second EnsureProfile: Changed true, want false")
			}
			if n := writes(r, tc.menu) - before; n != 0 {
				t.Errorf("second EnsureProfile sent %d writes, want none", n)
			}

			// A change sets only what differs.
			tc.change(&req.Profile)
			resp = must[*router.EnsureProfileResponse](t, "changed EnsureProfile")(p.EnsureProfile(ctx, req))
			if !resp.Changed {
				t.Error("changed EnsureProfile: Changed false")
			}
			var sets []routertest.Command
			var unsets []string
			for _, c := range r.Commands() {
				switch c.Word {
				case tc.menu + "/set":
					sets = append(sets, c)
				case tc.menu + "/unset":
					unsets = append(unsets, c.Attrs["value-name"])
				}
			}
			if len(sets) != 1 {
				t.Fatalf("%d set commands, want 1: %+v", len(sets), sets)
			}
			got := sets[0].Attrs
			got[".id"] = ""
			if diff := cmp.Diff(tc.wantSet, got); diff != "" {
				t.Errorf("set attributes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantUnset, unsets); diff != "" {
				t.Errorf("unset (-want +got):\n%s", diff)
			}
			before = writes(r, tc.menu)
			if resp := must[*router.EnsureProfileResponse](t, "EnsureProfile after change")(p.EnsureProfile(ctx, req)); resp.Changed {
				t.Error("EnsureProfile after the change, again: Changed true")
			}
			if n := writes(r, tc.menu) - before; n != 0 {
				t.Errorf("EnsureProfile after the change, again: %d writes", n)
			}

			// ListProfiles shows the defaults (not managed) and ours.
			list := must[*router.ListProfilesResponse](t, "ListProfiles")(p.ListProfiles(ctx, &router.ListProfilesRequest{Location: "main", Kind: tc.kind}))
			var names []string
			for _, pr := range list.Profiles {
				names = append(names, pr.Name)
				if pr.Managed != (pr.Name == tc.profile.Name) || pr.Kind != tc.kind {
					t.Errorf("ListProfiles: %+v", pr)
				}
			}
			if names[len(names)-1] != tc.profile.Name || names[0] != "default" {
				t.Errorf("ListProfiles names = %v", names)
			}

			// RemoveProfile, twice.
			rm := must[*router.RemoveProfileResponse](t, "RemoveProfile")(p.RemoveProfile(ctx, &router.RemoveProfileRequest{Location: "main", Kind: tc.kind, Name: tc.profile.Name}))
			if !rm.Removed {
				t.Error("RemoveProfile: Removed false")
			}
			if _, ok := r.Find(tc.menu, tc.profile.Name); ok {
				t.Error("profile still on the router")
			}
			rm = must[*router.RemoveProfileResponse](t, "RemoveProfile again")(p.RemoveProfile(ctx, &router.RemoveProfileRequest{Location: "main", Kind: tc.kind, Name: tc.profile.Name}))
			if rm.Removed {
				t.Error("RemoveProfile of a missing profile: Removed true")
			}
		})
	}
}

func TestEnsureProfileRefusals(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	ctx := ctxT(t)
	for _, tc := range []struct {
		name    string
		profile router.Profile
		want    []error
	}{
		{"bad rate limit", router.Profile{Kind: router.KindHotspot, Name: "x", RateLimit: "2 megabits"}, []error{router.ErrInvalidRateLimit, sdk.ErrInvalidArgument}},
		{"no kind", router.Profile{Name: "x"}, []error{sdk.ErrInvalidArgument}},
		{"no name", router.Profile{Kind: router.KindPPP}, []error{sdk.ErrInvalidArgument}},
		{"negative timeout", router.Profile{Kind: router.KindPPP, Name: "x", IdleTimeout: -time.Second}, []error{sdk.ErrInvalidArgument}},
		{"the router's default", router.Profile{Kind: router.KindHotspot, Name: "default", RateLimit: "1M/1M"}, []error{router.ErrNotManaged, sdk.ErrPermissionDenied}},
		{"the router's default ppp", router.Profile{Kind: router.KindPPP, Name: "default-encryption"}, []error{router.ErrNotManaged}},
	} {
		_, err := p.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: tc.profile})
		wantErr(t, tc.name, err, tc.want...)
	}
	_, err := p.RemoveProfile(ctx, &router.RemoveProfileRequest{Location: "main", Kind: router.KindHotspot, Name: "default"})
	wantErr(t, "RemoveProfile default", err, router.ErrNotManaged)
	if n := writes(r, hsProfile) + writes(r, pppProf); n != 0 {
		t.Errorf("%d writes for refused requests, want none", n)
	}
	_, err = p.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "branch", Profile: router.Profile{Kind: router.KindHotspot, Name: "x"}})
	wantErr(t, "unknown location", err, router.ErrUnknownLocation, sdk.ErrNotFound)
}
