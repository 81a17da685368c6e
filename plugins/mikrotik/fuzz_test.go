package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/go-routeros/routeros/v3/proto"
	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// fuzzWireLimit is the word limit the fuzz guards with: small, so that a
// fuzzed stream cannot make each run allocate megabytes.
const fuzzWireLimit = 1 << 10

// FuzzReplyWire reads fuzzed router replies the way the plugin does:
// go-routeros' sentence reader (package proto, what routeros.Client runs)
// over the wireGuard. Whatever the bytes and however the network splits
// them, the reader never gets a word over the limit; the guard refuses a
// stream exactly when its lengths break the limit or the wire format (the
// same error, for any split); and when the guard lets a stream through, it
// changes nothing: go-routeros reads the same sentences and ends in the
// same error as without it.
func FuzzReplyWire(f *testing.F) {
	sentence := func(words ...string) []byte {
		var b []byte
		for _, w := range words {
			b = appendWord(b, w)
		}
		return append(b, 0)
	}
	f.Add(sentence("!done", "=ret=0123456789abcdef"), uint8(0))
	f.Add(append(sentence("!re", "=.id=*1", "=name=alice", "=profile=10M", ".tag=3"), sentence("!done", ".tag=3")...), uint8(3))
	f.Add(sentence("!trap", "=category=2", "=message=no such item"), uint8(200))
	f.Add(sentence("!fatal", "not logged in"), uint8(1))
	f.Add(append(sentence("!re", "=comment="+string(bytes.Repeat([]byte("c"), 0x90))), sentence("!done")...), uint8(7))
	f.Add([]byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF, '!'}, uint8(0)) // 4 GiB announced
	f.Add([]byte{0xE0, 0x10, 0x00, 0x00}, uint8(2))            // 1 MiB, over the fuzz limit
	f.Add([]byte{0x03, '!', 'r', 'e', 0xF8}, uint8(0))         // a control byte
	f.Add([]byte{0xF3, 0x00, 0x00, 0x00, 0x01, '!'}, uint8(0)) // go-routeros reads 0xF3 as 0xF0
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), uint8(15))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		verdict := guardWire(nil, fuzzWireLimit).check(data)

		guard := guardWire(&chunkConn{data: data, chunk: int(split) + 1}, fuzzWireLimit)
		got, err := readSentences(guard)
		for _, s := range got {
			for _, w := range s {
				if len(w) > fuzzWireLimit {
					t.Fatalf("go-routeros read a word of %d bytes through the guard (limit %d)", len(w), fuzzWireLimit)
				}
			}
		}
		if errors.Is(err, errWireProtocol) {
			if verdict == nil || err.Error() != verdict.Error() {
				t.Fatalf("split every %d bytes, the guard says %v; over the whole stream %v", int(split)+1, err, verdict)
			}
			return
		}
		if verdict != nil {
			// go-routeros stopped before the bad length (a word it does
			// not take), or the guard has not seen it yet.
			return
		}
		plain, plainErr := readSentences(&chunkConn{data: data, chunk: len(data) + 1})
		if diff := cmp.Diff(plain, got); diff != "" {
			t.Fatalf("the guard changed what go-routeros reads (-without +with):\n%s", diff)
		}
		if fmt.Sprint(err) != fmt.Sprint(plainErr) {
			t.Fatalf("with the guard the reader ends in %v, without it in %v", err, plainErr)
		}
	})
}

// readSentences reads sentences until the reader fails, each as its words:
// the reply word, the tag, then key=value pairs.
func readSentences(r io.Reader) ([][]string, error) {
	rd := proto.NewReader(r)
	defer rd.Close()
	var out [][]string
	for {
		s, err := rd.ReadSentence()
		if err != nil {
			return out, err
		}
		words := []string{s.Word, s.Tag}
		for _, p := range s.List {
			words = append(words, p.Key, p.Value)
		}
		out = append(out, words)
	}
}

// appendWord appends a word in the RouterOS API encoding.
func appendWord(b []byte, w string) []byte {
	n := len(w)
	switch {
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x4000:
		b = append(b, byte(n>>8)|0x80, byte(n))
	default:
		b = append(b, byte(n>>16)|0xC0, byte(n>>8), byte(n))
	}
	return append(b, w...)
}

// chunkConn is a connection whose reads return at most chunk bytes of
// data, then io.EOF: the network splitting a reply anywhere.
type chunkConn struct {
	net.Conn
	data  []byte
	chunk int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestHugeReplyWordRefused: a "router" that answers the login with a word
// of 4 GiB (the longest length the wire format can announce) is refused
// with a protocol error that says what to check, and the plugin does not
// allocate the word (go-routeros would, before reading it).
func TestHugeReplyWordRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Read(make([]byte, 512)) // the /login sentence
				_, _ = c.Write([]byte{0x05, '!', 'd', 'o', 'n', 'e', 0xF0, 0xFF, 0xFF, 0xFF, 0xFF})
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	p, _ := newPlugin(t)
	configure(t, p, map[string]any{"locations": []any{map[string]any{
		"id": "main", "address": "127.0.0.1", "port": addr.Port, "username": "admin", "password": "secret",
	}}})
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = upsertAlice(t, p)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "4294967295 bytes") || !strings.Contains(err.Error(), "router's API service") {
		t.Fatalf("UpsertUser against a 4 GiB reply word: %v; want the wire guard's error", err)
	}
	wantErr(t, "UpsertUser", err, router.ErrRouterUnreachable, sdk.ErrUnavailable)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<30 {
		t.Errorf("the plugin allocated %d MiB for the reply", grown>>20)
	}
}
