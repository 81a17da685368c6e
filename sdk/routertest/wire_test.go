package routertest_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

// TestWordLengths sends words whose lengths need each of the length
// encodings and reads them back: the server must decode what the client
// encodes, and answer with the shortest encoding.
func TestWordLengths(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")
	cases := []struct {
		name   string
		n      int
		prefix int // bytes the length takes on the wire
	}{
		{"1 byte max", 0x7F - len("=comment="), 1},
		{"2 bytes min", 0x80 - len("=comment="), 2},
		{"2 bytes max", 0x3FFF - len("=comment="), 2},
		{"3 bytes min", 0x4000 - len("=comment="), 3},
		{"3 bytes max", 0x1FFFFF - len("=comment="), 3},
		{"4 bytes min", 0x200000 - len("=comment="), 4},
		{"4 bytes, 3 MiB", 3 << 20, 4},
	}
	for i, tc := range cases {
		name := "u" + string(rune('a'+i))
		comment := strings.Repeat(string(rune('a'+i)), tc.n)
		word := "=comment=" + comment
		if got := len(rawLength(len(word))); got != tc.prefix {
			t.Fatalf("%s: client encodes %d bytes in %d; want %d", tc.name, len(word), got, tc.prefix)
		}
		doneRet(t, c.run("/ip/hotspot/user/add", "=name="+name, word))
		reply := c.run("/ip/hotspot/user/print", "?name="+name, "=.proplist=comment")
		if diff := cmp.Diff([]string{"!re", "!done"}, words(reply)); diff != "" {
			t.Fatalf("%s: reply (-want +got):\n%s", tc.name, diff)
		}
		if got := reply[0][1]; got != word {
			t.Fatalf("%s: read back %d bytes; want %d", tc.name, len(got), len(word))
		}
		if got := c.prefixes[len(word)]; got != tc.prefix {
			t.Errorf("%s: server encoded length %#x in %d bytes; want %d", tc.name, len(word), got, tc.prefix)
		}
		row, _ := r.Find("/ip/hotspot/user", name)
		if row["comment"] != comment {
			t.Errorf("%s: stored comment of %d bytes; want %d", tc.name, len(row["comment"]), tc.n)
		}
	}
}

// TestLongLengthForms sends short words with the longer length forms
// (4 and 5 bytes, the 5-byte 0xF0 form being the one for words of 256 MiB
// and more): the server reads any form.
func TestLongLengthForms(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	c := dialRaw(t, r)
	c.login("admin", "")
	forms := map[string]func(n int) []byte{
		"2 bytes": func(n int) []byte { return []byte{0x80, byte(n)} },
		"3 bytes": func(n int) []byte { return []byte{0xC0, 0, byte(n)} },
		"4 bytes": func(n int) []byte { return []byte{0xE0, 0, 0, byte(n)} },
		"5 bytes": func(n int) []byte { return []byte{0xF0, 0, 0, 0, byte(n)} },
	}
	for name, form := range forms {
		var b bytes.Buffer
		for _, w := range []string{"/system/identity/print", "=.proplist=name"} {
			b.Write(form(len(w)))
			b.WriteString(w)
		}
		b.WriteByte(0)
		c.writeRaw(b.Bytes())
		reply, err := c.reply()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff([][]string{{"!re", "=name=MikroTik"}, {"!done"}}, reply); diff != "" {
			t.Errorf("%s: reply (-want +got):\n%s", name, diff)
		}
	}
	// A lone empty word (an empty sentence) is ignored.
	c.writeRaw([]byte{0})
	if diff := cmp.Diff([]string{"!re", "!done"}, words(c.run("/system/identity/print"))); diff != "" {
		t.Errorf("after an empty sentence (-want +got):\n%s", diff)
	}
}

func TestProtocolErrorsCloseTheConnection(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	for name, b := range map[string][]byte{
		"control byte":       {0xF8, 1, 2, 3},
		"reserved 0xF1":      {0xF1, 0, 0, 0, 1, 'x'},
		"word over 64 MiB":   {0xE4, 0, 0, 1},
		"truncated sentence": {0x05, '/', 'l'},
	} {
		c := dialRaw(t, r)
		c.writeRaw(b)
		if name == "truncated sentence" {
			_ = c.nc.(interface{ CloseWrite() error }).CloseWrite()
		}
		c.expectEOF()
	}
}
