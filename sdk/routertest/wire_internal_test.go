package routertest

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeLength(t *testing.T) {
	t.Parallel()
	cases := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}},
		{0x7F, []byte{0x7F}},
		{0x80, []byte{0x80, 0x80}},
		{0x3FFF, []byte{0xBF, 0xFF}},
		{0x4000, []byte{0xC0, 0x40, 0x00}},
		{0x1FFFFF, []byte{0xDF, 0xFF, 0xFF}},
		{0x200000, []byte{0xE0, 0x20, 0x00, 0x00}},
		{0xFFFFFFF, []byte{0xEF, 0xFF, 0xFF, 0xFF}},
		{0x10000000, []byte{0xF0, 0x10, 0x00, 0x00, 0x00}},
		{0xFFFFFFFF, []byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, tc := range cases {
		got := encodeLength(tc.n)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("encodeLength(%#x) = % X; want % X", tc.n, got, tc.want)
		}
		n, err := readLength(bufio.NewReader(bytes.NewReader(got)))
		if err != nil || n != tc.n {
			t.Errorf("readLength(% X) = %#x, %v; want %#x", got, n, err, tc.n)
		}
	}
}

func TestReadSentence(t *testing.T) {
	t.Parallel()
	in := appendSentence(nil, "/ip/hotspot/user/print", "?name=a")
	in = append([]byte{0}, in...) // an empty sentence first: skipped
	got, err := readSentence(bufio.NewReader(bytes.NewReader(in)), 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/ip/hotspot/user/print", "?name=a"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := readSentence(bufio.NewReader(bytes.NewReader(appendSentence(nil, "0123456789x"))), 10); err == nil {
		t.Error("word over the limit accepted")
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in       string
		v7, v6   string
		mustFail bool
	}{
		{in: "0", v7: "0s", v6: "00:00:00"},
		{in: "0s", v7: "0s", v6: "00:00:00"},
		{in: "3600", v7: "1h", v6: "01:00:00"},
		{in: "1h", v7: "1h", v6: "01:00:00"},
		{in: "90m", v7: "1h30m", v6: "01:30:00"},
		{in: "00:30:00", v7: "30m", v6: "00:30:00"},
		{in: "1d02:03:04", v7: "1d2h3m4s", v6: "1d02:03:04"},
		{in: "1d2h3m4s", v7: "1d2h3m4s", v6: "1d02:03:04"},
		{in: "30d", v7: "4w2d", v6: "4w2d"},
		{in: "1w2d3h4m5s", v7: "1w2d3h4m5s", v6: "1w2d03:04:05"},
		{in: "1500ms", v7: "1s", v6: "00:00:01"},
		{in: "10:00", v7: "10m", v6: "00:10:00"},
		{in: "", mustFail: true},
		{in: "1x", mustFail: true},
		{in: "h", mustFail: true},
		{in: "1:2:3:4", mustFail: true},
		{in: "-1s", mustFail: true},
	}
	for _, tc := range cases {
		d, err := parseDuration(tc.in)
		if tc.mustFail {
			if err == nil {
				t.Errorf("parseDuration(%q) = %v; want an error", tc.in, d)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseDuration(%q): %v", tc.in, err)
			continue
		}
		if got := formatDuration(d, false); got != tc.v7 {
			t.Errorf("%q: RouterOS 7 form %q; want %q", tc.in, got, tc.v7)
		}
		if got := formatDuration(d, true); got != tc.v6 {
			t.Errorf("%q: RouterOS 6 form %q; want %q", tc.in, got, tc.v6)
		}
	}
	if got := formatDuration(9*24*time.Hour+5*time.Second, false); got != "1w2d5s" {
		t.Errorf("got %q", got)
	}
}
