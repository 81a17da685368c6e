package routertest_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestTags sends several tagged commands at once, as go-routeros' async
// mode does, and checks every reply sentence carries its command's tag.
func TestTags(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")
	r.Add("/ip/hotspot/user", map[string]string{"name": "a"})
	r.Add("/ip/hotspot/user", map[string]string{"name": "b"})

	var batch []byte
	batch = append(batch, encode("/ip/hotspot/user/print", ".tag=rows")...)
	batch = append(batch, encode("/ppp/secret/print", ".tag=empty")...)
	batch = append(batch, encode("/no/such/thing", ".tag=trap")...)
	batch = append(batch, encode("/ppp/secret/add", "=name=x", ".tag=add")...)
	batch = append(batch, encode("/ppp/secret/print", "=count-only=", ".tag=7")...)
	c.writeRaw(batch)

	got := map[string][]string{}
	for dones := 0; dones < 5; {
		s, err := c.readSentence()
		if err != nil {
			t.Fatalf("read: %v (so far %v)", err, got)
		}
		tag := ""
		for _, w := range s[1:] {
			if v, ok := strings.CutPrefix(w, ".tag="); ok {
				tag = v
			}
		}
		if tag == "" {
			t.Fatalf("untagged reply %q", s)
		}
		got[tag] = append(got[tag], s[0])
		if s[0] == "!done" {
			dones++
		}
	}
	want := map[string][]string{
		"rows":  {"!re", "!re", "!done"},
		"empty": {"!empty", "!done"},
		"trap":  {"!trap", "!done"},
		"add":   {"!done"},
		"7":     {"!done"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sentences per tag (-want +got):\n%s", diff)
	}
	cmds := r.Commands()
	var tags []string
	for _, cmd := range cmds {
		tags = append(tags, cmd.Tag)
	}
	if diff := cmp.Diff([]string{"", "rows", "empty", "trap", "add", "7"}, tags); diff != "" {
		t.Errorf("Commands tags (-want +got):\n%s", diff)
	}
}

// TestTagDelayDoesNotBlockOthers: a tagged command held by Fault.Delay
// answers after the tagged commands sent behind it; /cancel interrupts one.
func TestTagDelayAndCancel(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")
	r.Inject("/system/resource/print", routertest.Fault{Delay: 200 * time.Millisecond})
	r.Inject("/system/identity/print", routertest.Fault{Delay: time.Minute})
	c.send("/system/resource/print", ".tag=slow")
	c.send("/system/identity/print", ".tag=stuck")
	c.send("/ppp/profile/print", "=.proplist=name", ".tag=fast")
	var order []string
	for len(order) < 2 {
		s, err := c.readSentence()
		if err != nil {
			t.Fatal(err)
		}
		if s[0] == "!done" {
			order = append(order, s[len(s)-1])
		}
	}
	if diff := cmp.Diff([]string{".tag=fast", ".tag=slow"}, order); diff != "" {
		t.Errorf("!done order (-want +got):\n%s", diff)
	}
	c.send("/cancel", "=tag=stuck", ".tag=c")
	got := map[string][][]string{}
	for len(got["stuck"]) < 2 || len(got["c"]) < 1 {
		s, err := c.readSentence()
		if err != nil {
			t.Fatal(err)
		}
		tag := strings.TrimPrefix(s[len(s)-1], ".tag=")
		got[tag] = append(got[tag], s[:len(s)-1])
	}
	want := map[string][][]string{
		"stuck": {{"!trap", "=category=2", "=message=interrupted"}, {"!done"}},
		"c":     {{"!done"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cancel (-want +got):\n%s", diff)
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts routertest.Options
		want []string
	}{
		{"7.18", routertest.Options{}, []string{"!empty", "!done"}},
		{"before 7.18", routertest.Options{NoEmpty: true}, []string{"!done"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := routertest.Start(t, tc.opts)
			c := dialRaw(t, r)
			c.login("admin", "")
			for _, cmd := range [][]string{
				{"/ip/hotspot/user/print"},
				{"/ip/hotspot/active/print"},
				{"/ppp/profile/print", "?name=none"},
				{"/ppp/active/getall"},
			} {
				if diff := cmp.Diff(tc.want, words(c.run(cmd...))); diff != "" {
					t.Errorf("%v (-want +got):\n%s", cmd, diff)
				}
			}
			if diff := cmp.Diff([]string{"!re", "!done"}, words(c.run("/ppp/profile/print", "?name=default"))); diff != "" {
				t.Errorf("a row (-want +got):\n%s", diff)
			}
			if got := doneRet(t, c.run("/ip/hotspot/user/print", "=count-only=")); got != "0" {
				t.Errorf("count-only: %q", got)
			}
		})
	}
}

func TestTraps(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")
	doneRet(t, c.run("/ip/hotspot/user/add", "=name=alice"))
	doneRet(t, c.run("/ppp/secret/add", "=name=bob"))
	doneRet(t, c.run("/ppp/profile/add", "=name=gold"))

	for _, tc := range []struct {
		words    []string
		message  string
		category string
	}{
		{[]string{"/no/such/print"}, "no such command prefix", "0"},
		{[]string{"/ip/hotspot/user/frobnicate"}, "no such command prefix", "0"},
		{[]string{"nonsense"}, "no such command prefix", "0"},
		{[]string{"/ip/hotspot/active/add", "=user=x"}, "no such command prefix", "0"},
		{[]string{"/ppp/active/set", "=.id=*1"}, "no such command prefix", "0"},
		{[]string{"/system/resource/set", "=cpu=x"}, "no such command prefix", "0"},
		{[]string{"/ip/hotspot/user/add", "=name=alice"}, "failure: already have user with this name", ""},
		{[]string{"/ppp/secret/add", "=name=bob"}, "failure: entry already exists", ""},
		{[]string{"/ppp/profile/add", "=name=gold"}, "failure: entry already exists", ""},
		{[]string{"/ppp/profile/add", "=name=default"}, "failure: entry already exists", ""},
		{[]string{"/ip/hotspot/user/profile/add", "=name=default"}, "failure: entry already exists", ""},
		{[]string{"/ip/hotspot/user/set", "=.id=*99", "=comment=x"}, "no such item", ""},
		{[]string{"/ip/hotspot/user/set", "=numbers=nobody", "=comment=x"}, "no such item", ""},
		{[]string{"/ip/hotspot/user/set", "=comment=x"}, "no such item", ""},
		{[]string{"/ppp/secret/remove", "=numbers=bob,nobody"}, "no such item", ""},
		{[]string{"/ppp/secret/enable", "=numbers=nobody"}, "no such item", ""},
		{[]string{"/ip/hotspot/active/remove", "=.id=*99"}, "no such item", ""},
		{[]string{"/ip/hotspot/user/add", "=name=carol", "=profile=gold"}, "input does not match any value of profile", ""},
		{[]string{"/ip/hotspot/user/set", "=numbers=alice", "=profile=gold"}, "input does not match any value of profile", ""},
		{[]string{"/ppp/secret/add", "=name=dave", "=profile=silver"}, "input does not match any value of profile", ""},
		{[]string{"/ppp/secret/add", "=name=dave", "=service=carrier-pigeon"}, "input does not match any value of service", ""},
		{[]string{"/ip/hotspot/user/print", "?#|"}, "unsupported query operation ?#|", ""},
		{[]string{"/ip/hotspot/user/print", "?<uptime=1"}, "unsupported query operation ?<uptime=1", ""},
		{[]string{"/ip/hotspot/user/print", "?"}, "unsupported query ?", ""},
		{[]string{"/ip/hotspot/user/add", "=name=carol", "=limit-bytes=1"}, "unknown parameter limit-bytes", ""},
		{[]string{"/ppp/secret/add", "=name=carol", "=limit-bytes-total=1"}, "unknown parameter limit-bytes-total", ""},
		{[]string{"/ip/hotspot/user/add", "=name=carol", "=disabled=maybe"}, "invalid value for argument disabled", ""},
		{[]string{"/ip/hotspot/user/add", "=name=carol", "=limit-uptime=soon"}, "invalid value for argument limit-uptime", ""},
		{[]string{"/ip/hotspot/user/add", "=password=x"}, "missing value(s) of argument(s) name", ""},
		{[]string{"/ip/hotspot/user/set", "=numbers=alice", "=name="}, "invalid value for argument name", ""},
		{[]string{"/ppp/profile/remove", "=numbers=default"}, "failure: can not remove default entry", ""},
	} {
		reply := c.run(tc.words...)
		if got := trapMessage(t, reply); got != tc.message {
			t.Errorf("%q: trap %q; want %q", tc.words, got, tc.message)
		}
		if got := attrs(reply[0])["category"]; got != tc.category {
			t.Errorf("%q: category %q; want %q", tc.words, got, tc.category)
		}
	}
	if n := len(r.Rows("/ip/hotspot/user")); n != 1 {
		t.Errorf("%d hotspot users after refused adds; want 1", n)
	}
	if n := len(r.Rows("/ppp/secret")); n != 1 {
		t.Errorf("%d ppp secrets after refused adds; want 1", n)
	}
	// Renaming onto another's name is a duplicate too.
	doneRet(t, c.run("/ip/hotspot/user/add", "=name=carol"))
	if got := trapMessage(t, c.run("/ip/hotspot/user/set", "=numbers=carol", "=name=alice")); got != "failure: already have user with this name" {
		t.Errorf("rename: %q", got)
	}
	// Renaming to its own name is fine.
	doneRet(t, c.run("/ip/hotspot/user/set", "=numbers=carol", "=name=carol"))
}

func TestQuit(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")
	reply := c.run("/quit")
	if diff := cmp.Diff([][]string{{"!fatal", "session terminated on request"}}, reply); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c.expectEOF()
	sdktest.WaitFor(t, 5*time.Second, "no connections", func() bool { return r.Connections() == 0 })
}

func TestSystemMenus(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{Version: "6.49.10 (long-term)", LegacyDurations: true})
	c := dialRaw(t, r)
	c.login("admin", "")
	reply := c.run("/system/resource/print")
	if diff := cmp.Diff([]string{"!re", "!done"}, words(reply)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	res := attrs(reply[0])
	for _, k := range []string{"uptime", "version", "build-time", "free-memory", "total-memory", "cpu",
		"cpu-count", "cpu-frequency", "cpu-load", "free-hdd-space", "total-hdd-space", "architecture-name",
		"board-name", "platform"} {
		if res[k] == "" {
			t.Errorf("/system/resource has no %s: %v", k, res)
		}
	}
	if res["version"] != "6.49.10 (long-term)" || res["platform"] != "MikroTik" {
		t.Errorf("version %q platform %q", res["version"], res["platform"])
	}
	if _, has := res[".id"]; has {
		t.Errorf("/system/resource has an .id")
	}
	if !strings.Contains(res["uptime"], ":") {
		t.Errorf("legacy uptime %q; want the 6.x clock form", res["uptime"])
	}
	r.Add("/system/resource", map[string]string{"cpu-load": "55"})
	reply = c.run("/system/resource/print", "=.proplist=cpu-load,version")
	if diff := cmp.Diff([]string{"!re", "=cpu-load=55", "=version=6.49.10 (long-term)"}, reply[0]); diff != "" {
		t.Errorf("proplist (-want +got):\n%s", diff)
	}
	if got := attrs(c.run("/system/identity/print")[0])["name"]; got != "MikroTik" {
		t.Errorf("identity %q", got)
	}

	r2 := routertest.Start(t, routertest.Options{})
	res2 := r2.Rows("/system/resource")[0]
	if res2["version"] != "7.18.2 (stable)" {
		t.Errorf("default version %q", res2["version"])
	}
	if !slices.Contains([]string{"0s", "1s", "2s"}, res2["uptime"]) {
		t.Errorf("uptime %q", res2["uptime"])
	}
}
