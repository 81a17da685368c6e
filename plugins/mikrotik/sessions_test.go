package main

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	ctx := ctxT(t)
	for _, u := range []router.User{
		{Kind: router.KindHotspot, Name: "alice", Password: "a"},
		{Kind: router.KindPPP, Name: "bob", Password: "b"},
	} {
		must[*router.UpsertUserResponse](t, "UpsertUser")(p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: u}))
	}
	a1 := r.Add(hsActive, map[string]string{"user": "alice", "address": "10.5.50.2", "mac-address": "AA:BB:CC:00:00:01",
		"uptime": "1h2m3s", "bytes-in": "1000", "bytes-out": "2000", "server": "hotspot1"})
	a2 := r.Add(hsActive, map[string]string{"user": "alice", "address": "10.5.50.3", "mac-address": "AA:BB:CC:00:00:02"})
	r.Add(hsActive, map[string]string{"user": "dave", "address": "10.5.50.4"})
	b1 := r.Add(pppActive, map[string]string{"name": "bob", "address": "10.9.0.7", "caller-id": "AA:BB:CC:00:00:03", "uptime": "2d", "service": "pppoe"})
	r.Add(pppActive, map[string]string{"name": "erin", "address": "10.9.0.8", "caller-id": "10.0.0.1"})

	list := func(kind router.UserKind, user string) []router.Session {
		t.Helper()
		return must[*router.ListActiveSessionsResponse](t, "ListActiveSessions")(p.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{Location: "main", Kind: kind, User: user})).Sessions
	}
	got := list(router.KindHotspot, "alice")
	want := []router.Session{
		{ID: a1, Kind: router.KindHotspot, User: "alice", Address: "10.5.50.2", MACAddress: "AA:BB:CC:00:00:01",
			Uptime: time.Hour + 2*time.Minute + 3*time.Second, BytesIn: 1000, BytesOut: 2000, Server: "hotspot1"},
		{ID: a2, Kind: router.KindHotspot, User: "alice", Address: "10.5.50.3", MACAddress: "AA:BB:CC:00:00:02", Server: "hotspot1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hotspot sessions of alice (-want +got):\n%s", diff)
	}
	got = list(router.KindPPP, "bob")
	wantPPP := []router.Session{{ID: b1, Kind: router.KindPPP, User: "bob", Address: "10.9.0.7", CallerID: "AA:BB:CC:00:00:03",
		MACAddress: "AA:BB:CC:00:00:03", Uptime: 48 * time.Hour, Server: "pppoe"}}
	if diff := cmp.Diff(wantPPP, got); diff != "" {
		t.Errorf("ppp sessions of bob (-want +got):\n%s", diff)
	}
	if n := len(list("", "")); n != 5 {
		t.Errorf("%d sessions of both kinds, want 5", n)
	}

	// Disconnect by id, then the same id again.
	dc := must[*router.DisconnectSessionResponse](t, "DisconnectSession")(p.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: "main", Kind: router.KindHotspot, SessionID: a2}))
	if dc.Disconnected != 1 || len(r.Rows(hsActive)) != 2 {
		t.Errorf("DisconnectSession by id: %+v, %d left", dc, len(r.Rows(hsActive)))
	}
	dc = must[*router.DisconnectSessionResponse](t, "DisconnectSession again")(p.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: "main", Kind: router.KindHotspot, SessionID: a2}))
	if dc.Disconnected != 0 {
		t.Errorf("DisconnectSession of a gone session: %+v", dc)
	}
	_, err := p.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: "main", Kind: router.KindHotspot})
	wantErr(t, "DisconnectSession of nothing", err, sdk.ErrInvalidArgument)

	// Disable with Disconnect ends alice's last session, not dave's.
	dis := must[*router.DisableUserResponse](t, "DisableUser")(p.DisableUser(ctx, &router.DisableUserRequest{
		User: router.UserRef{Location: "main", Kind: router.KindHotspot, Name: "alice"}, Disconnect: true}))
	if !dis.Changed || dis.Disconnected != 1 {
		t.Errorf("DisableUser: %+v", dis)
	}
	if rows := r.Rows(hsActive); len(rows) != 1 || rows[0]["user"] != "dave" {
		t.Errorf("hotspot sessions left: %v", rows)
	}

	// Isolate with Disconnect, then remove with Disconnect (PPP).
	bob := router.UserRef{Location: "main", Kind: router.KindPPP, Name: "bob"}
	iso := must[*router.IsolateUserResponse](t, "IsolateUser")(p.IsolateUser(ctx, &router.IsolateUserRequest{User: bob, IsolationProfile: "default-encryption", Disconnect: true}))
	if !iso.Changed || iso.Disconnected != 1 {
		t.Errorf("IsolateUser: %+v", iso)
	}
	r.Add(pppActive, map[string]string{"name": "bob", "address": "10.9.0.7"})
	rm := must[*router.RemoveUserResponse](t, "RemoveUser")(p.RemoveUser(ctx, &router.RemoveUserRequest{User: bob, Disconnect: true}))
	if !rm.Removed || rm.Disconnected != 1 {
		t.Errorf("RemoveUser: %+v", rm)
	}
	if rows := r.Rows(pppActive); len(rows) != 1 || rows[0]["name"] != "erin" {
		t.Errorf("ppp sessions left: %v", rows)
	}

	// Disconnect by user.
	r.Add(pppActive, map[string]string{"name": "erin", "address": "10.9.0.9"})
	dc = must[*router.DisconnectSessionResponse](t, "DisconnectSession erin")(p.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: "main", Kind: router.KindPPP, User: "erin"}))
	if dc.Disconnected != 2 || len(r.Rows(pppActive)) != 0 {
		t.Errorf("DisconnectSession by user: %+v, left %v", dc, r.Rows(pppActive))
	}
}

func TestResourcesAndLocations(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	ctx := ctxT(t)
	r.Add(routertest.MenuSystemResource, map[string]string{"cpu-load": "42", "uptime": "1w2d3h4m5s"})
	res := must[*router.GetResourcesResponse](t, "GetResources")(p.GetResources(ctx, &router.GetResourcesRequest{Location: "main"})).Resources
	want := router.Resources{
		Location: "main", Version: routertest.DefaultVersion, BoardName: "CHR QEMU Standard PC (i440FX + PIIX, 1996)",
		Architecture: "x86_64", Uptime: 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second, CPULoad: 42,
		CPUCount: res.CPUCount, FreeMemoryBytes: 874512384, TotalMemoryBytes: 1073741824,
		FreeHDDBytes: 93454336, TotalHDDBytes: 134217728,
	}
	if diff := cmp.Diff(want, res); diff != "" || res.CPUCount < 1 {
		t.Errorf("GetResources (-want +got):\n%s", diff)
	}
	locs := must[*router.ListLocationsResponse](t, "ListLocations")(p.ListLocations(ctx, &router.ListLocationsRequest{}))
	wantLocs := []router.Location{{ID: "main", Name: "main", Address: r.Addr(), Reachable: true, RouterOSVersion: "7.18.2"}}
	if diff := cmp.Diff(wantLocs, locs.Locations); diff != "" {
		t.Errorf("ListLocations (-want +got):\n%s", diff)
	}
	_, err := p.GetResources(ctx, &router.GetResourcesRequest{Location: "nowhere"})
	wantErr(t, "GetResources nowhere", err, router.ErrUnknownLocation)
	if !slices.ContainsFunc(r.Commands(), func(c routertest.Command) bool { return c.Word == "/system/resource/print" }) {
		t.Error("no /system/resource/print")
	}
}
