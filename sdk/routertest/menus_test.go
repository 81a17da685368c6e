package routertest_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func TestHotspotUser(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")

	doneRet(t, c.run("/ip/hotspot/user/profile/add", "=name=gold", "=rate-limit=2M/4M", "=shared-users=2",
		"=session-timeout=01:00:00", "=comment=mikrobill"))
	id := doneRet(t, c.run("/ip/hotspot/user/add", "=name=alice", "=password=pw", "=profile=gold",
		"=limit-uptime=90m", "=comment=mikrobill: plan A", "=disabled=no"))
	if id == "" || id[0] != '*' {
		t.Fatalf("add returned .id %q", id)
	}
	want := map[string]string{".id": id, "name": "alice", "password": "pw", "profile": "gold",
		"limit-uptime": "1h30m", "comment": "mikrobill: plan A", "disabled": "false", "dynamic": "false",
		"uptime": "0s", "bytes-in": "0", "bytes-out": "0", "packets-in": "0", "packets-out": "0"}
	reply := c.run("/ip/hotspot/user/print", "?name=alice")
	if diff := cmp.Diff(want, attrs(reply[0])); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
	if reply[0][1] != "=.id="+id || reply[0][2] != "=name=alice" {
		t.Errorf("words start %q; want .id then name", reply[0][:3])
	}
	prof, ok := r.Find("/ip/hotspot/user/profile", "gold")
	if !ok || prof["session-timeout"] != "1h" || prof["rate-limit"] != "2M/4M" || prof["default"] != "false" {
		t.Errorf("profile %v", prof)
	}

	// set by name and by .id, enable/disable, unset, and the queries.
	doneRet(t, c.run("/ip/hotspot/user/set", "=numbers=alice", "=limit-uptime=0", "=comment="))
	doneRet(t, c.run("/ip/hotspot/user/disable", "=.id="+id))
	u, _ := r.Find("/ip/hotspot/user", "alice")
	if u["limit-uptime"] != "0s" || u["disabled"] != "true" {
		t.Errorf("after set/disable: %v", u)
	}
	if _, has := u["comment"]; has {
		t.Errorf("empty comment printed: %v", u)
	}
	doneRet(t, c.run("/ip/hotspot/user/unset", "=numbers="+id, "=value-name=limit-uptime"))
	doneRet(t, c.run("/ip/hotspot/user/enable", "=numbers=alice"))
	u, _ = r.Find("/ip/hotspot/user", "alice")
	if _, has := u["limit-uptime"]; has || u["disabled"] != "false" {
		t.Errorf("after unset/enable: %v", u)
	}
	bob := r.Add("/ip/hotspot/user", map[string]string{"name": "bob", "comment": "walk-in", "disabled": "yes"})
	for _, tc := range []struct {
		queries []string
		want    []string
	}{
		{[]string{"?disabled=false"}, []string{"alice"}},
		{[]string{"?disabled=yes"}, []string{"bob"}},
		{[]string{"?comment"}, []string{"bob"}},
		{[]string{"?-comment"}, []string{"alice"}},
		{[]string{"?=name=bob"}, []string{"bob"}},
		{[]string{"?profile=default", "?-comment"}, nil},
		{nil, []string{"alice", "bob"}},
	} {
		var names []string
		for _, s := range c.run(append([]string{"/ip/hotspot/user/print", "=.proplist=name"}, tc.queries...)...) {
			if s[0] == "!re" {
				names = append(names, attrs(s)["name"])
			}
		}
		if diff := cmp.Diff(tc.want, names); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.queries, diff)
		}
	}
	doneRet(t, c.run("/ip/hotspot/user/remove", "=numbers=alice,"+bob))
	if rows := r.Rows("/ip/hotspot/user"); len(rows) != 0 {
		t.Errorf("after remove: %v", rows)
	}
	if got := r.CountCommands("/ip/hotspot/user/add"); got != 1 {
		t.Errorf("CountCommands(add) = %d; want 1 (Add is not a command)", got)
	}
}

func TestPPP(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")

	var profiles []string
	for _, row := range r.Rows("/ppp/profile") {
		profiles = append(profiles, row["name"]+"="+row["default"])
	}
	if diff := cmp.Diff([]string{"default=true", "default-encryption=true"}, profiles); diff != "" {
		t.Errorf("ppp profiles (-want +got):\n%s", diff)
	}
	if _, ok := r.Find("/ip/hotspot/user/profile", "default"); !ok {
		t.Error("no default hotspot user profile")
	}
	doneRet(t, c.run("/ppp/profile/add", "=name=pppoe-10m", "=rate-limit=10M/10M", "=local-address=10.0.0.1",
		"=only-one=yes", "=comment=mikrobill"))
	id := doneRet(t, c.run("/ppp/secret/add", "=name=bob", "=password=pw", "=profile=pppoe-10m",
		"=service=pppoe", "=remote-address=10.0.0.9"))
	got, _ := r.Find("/ppp/secret", "bob")
	want := map[string]string{".id": id, "name": "bob", "password": "pw", "profile": "pppoe-10m",
		"service": "pppoe", "remote-address": "10.0.0.9", "disabled": "false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("secret (-want +got):\n%s", diff)
	}
	doneRet(t, c.run("/ppp/secret/add", "=name=carol"))
	carol, _ := r.Find("/ppp/secret", "carol")
	if carol["service"] != "any" || carol["profile"] != "default" || carol["disabled"] != "false" {
		t.Errorf("defaults: %v", carol)
	}
	doneRet(t, c.run("/ppp/secret/set", "=.id="+id, "=profile=default-encryption", "=disabled=true"))
	got, _ = r.Find("/ppp/secret", "bob")
	if got["profile"] != "default-encryption" || got["disabled"] != "true" {
		t.Errorf("after set: %v", got)
	}

	// Active sessions: seeded with Add, printed, removed.
	s1 := r.Add("/ppp/active", map[string]string{"user": "bob", "address": "10.0.0.9"})
	s2 := r.Add("/ip/hotspot/active", map[string]string{"user": "alice", "address": "10.5.50.2"})
	if row, ok := r.Find("/ppp/active", "bob"); !ok || row["name"] != "bob" || row[".id"] != s1 {
		t.Errorf("ppp active (RouterOS calls the user name there): %v", row)
	}
	if row, ok := r.Find("/ip/hotspot/active", "alice"); !ok || row["user"] != "alice" || row[".id"] != s2 {
		t.Errorf("hotspot active: %v", row)
	}
	reply := c.run("/ppp/active/print", "?name=bob", "=.proplist=.id,name,address")
	if diff := cmp.Diff([][]string{{"!re", "=.id=" + s1, "=name=bob", "=address=10.0.0.9"}, {"!done"}}, reply); diff != "" {
		t.Errorf("print (-want +got):\n%s", diff)
	}
	doneRet(t, c.run("/ppp/active/remove", "=.id="+s1))
	doneRet(t, c.run("/ip/hotspot/active/remove", "=numbers="+s2))
	if len(r.Rows("/ppp/active"))+len(r.Rows("/ip/hotspot/active")) != 0 {
		t.Error("sessions not removed")
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	r := routertest.New(routertest.Options{})
	t.Cleanup(func() { _ = r.Close() })
	if r.Addr() != "" || r.Port() != 0 {
		t.Errorf("address before Listen: %q", r.Addr())
	}
	if err := r.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := r.Listen("127.0.0.1:0"); err == nil {
		t.Error("second Listen succeeded")
	}
	if r.Host() != "127.0.0.1" || r.Port() == 0 {
		t.Errorf("Host %q Port %d", r.Host(), r.Port())
	}

	id := r.Add("/ip/hotspot/user", map[string]string{"name": "x", "limit-uptime": "3600"})
	rows := r.Rows("/ip/hotspot/user")
	if len(rows) != 1 || rows[0][".id"] != id || rows[0]["limit-uptime"] != "1h" {
		t.Fatalf("Rows %v", rows)
	}
	rows[0]["name"] = "changed" // a copy
	if _, ok := r.Find("/ip/hotspot/user", "x"); !ok {
		t.Error("Rows returned the router's own map")
	}
	if !r.Set("/ip/hotspot/user", id, map[string]string{"comment": "c", "profile": ""}) {
		t.Error("Set: no row")
	}
	if u, _ := r.Find("/ip/hotspot/user", "x"); u["comment"] != "c" || u["profile"] != "" {
		t.Errorf("after Set: %v", u)
	}
	if r.Set("/ip/hotspot/user", "*999", nil) || r.Remove("/ip/hotspot/user", "*999") {
		t.Error("Set/Remove of a missing row reported success")
	}
	if !r.Remove("/ip/hotspot/user", id) {
		t.Error("Remove: no row")
	}
	if r.Rows("/no/such/menu") != nil {
		t.Error("Rows of an unknown menu")
	}

	// A menu the router does not have becomes a generic table.
	r.Add("/ip/firewall/address-list", map[string]string{"list": "isolated", "address": "10.0.0.9"})
	c := dialRaw(t, r)
	c.login("admin", "")
	doneRet(t, c.run("/ip/firewall/address-list/add", "=list=isolated", "=address=10.0.0.10", "=name=n"))
	if n := len(r.Rows("/ip/firewall/address-list")); n != 2 {
		t.Errorf("%d address-list rows", n)
	}

	cmds := r.Commands()
	last := cmds[len(cmds)-1]
	want := routertest.Command{Word: "/ip/firewall/address-list/add",
		Attrs: map[string]string{"list": "isolated", "address": "10.0.0.10", "name": "n"}}
	if diff := cmp.Diff(want, last); diff != "" {
		t.Errorf("last command (-want +got):\n%s", diff)
	}
	c.run("/ppp/secret/print", "?name=a", "?-disabled", ".tag=t1")
	cmds = r.Commands()
	want = routertest.Command{Word: "/ppp/secret/print", Attrs: map[string]string{},
		Queries: []string{"?name=a", "?-disabled"}, Tag: "t1"}
	if diff := cmp.Diff(want, cmds[len(cmds)-1]); diff != "" {
		t.Errorf("print command (-want +got):\n%s", diff)
	}
	cmds[0].Attrs["name"] = "tampered"
	if r.Commands()[0].Attrs["name"] == "tampered" {
		t.Error("Commands returned the router's own maps")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := r.Listen("127.0.0.1:0"); err == nil {
		t.Error("Listen after Close succeeded")
	}
}
