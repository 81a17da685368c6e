package main

import (
	"errors"
	"fmt"
	"net"
)

// maxReplyWord bounds one word of the router's replies. go-routeros
// allocates a word's announced length before reading it, and the RouterOS
// API's longest length form announces up to 4 GiB: without this bound, one
// broken or hostile reply (the plain API on port 8728 is not authenticated
// before login) makes the plugin allocate gigabytes. The longest words a
// router really sends (a script's source, a file's contents, a log
// message) are far below it.
const maxReplyWord = 16 << 20

// errWireProtocol marks a reply that is not the RouterOS API wire format
// or announces a word over the limit.
var errWireProtocol = errors.New("the router's reply is not the RouterOS API wire format")

// wireGuard is the connection as go-routeros reads it: it follows the word
// lengths of the RouterOS API wire format in the bytes that pass (a word is
// its length in 1 to 5 bytes, then that many bytes; see sdk/routertest's
// wire.go) and fails the read that brings a length over the limit, or a
// control byte (0xF1 and above) where a length should be, before
// go-routeros allocates for it. The connection is of no further use after
// that: every later read fails too, and the plugin reconnects.
type wireGuard struct {
	net.Conn
	limit uint64
	need  int    // bytes of the current length still to come
	n     uint64 // the length read so far
	skip  uint64 // bytes of the current word still to come
	err   error
}

func guardWire(conn net.Conn, limit int) *wireGuard {
	return &wireGuard{Conn: conn, limit: uint64(limit)}
}

func (g *wireGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.Conn.Read(p)
	if cerr := g.check(p[:n]); cerr != nil {
		g.err = cerr
		return 0, cerr
	}
	return n, err
}

// check follows the word lengths through b, the next bytes of the stream.
func (g *wireGuard) check(b []byte) error {
	for len(b) > 0 {
		if g.skip > 0 {
			k := min(uint64(len(b)), g.skip)
			b, g.skip = b[k:], g.skip-k
			continue
		}
		c := b[0]
		b = b[1:]
		if g.need > 0 {
			g.n = g.n<<8 | uint64(c)
			if g.need--; g.need == 0 {
				if err := g.word(); err != nil {
					return err
				}
			}
			continue
		}
		switch {
		case c&0x80 == 0:
			g.n = uint64(c)
			if err := g.word(); err != nil {
				return err
			}
		case c&0xC0 == 0x80:
			g.n, g.need = uint64(c&0x3F), 1
		case c&0xE0 == 0xC0:
			g.n, g.need = uint64(c&0x1F), 2
		case c&0xF0 == 0xE0:
			g.n, g.need = uint64(c&0x0F), 3
		case c == 0xF0:
			g.n, g.need = 0, 4
		default:
			return fmt.Errorf("%w: control byte 0x%02X where a word length was expected; "+
				"check that the address and port are the router's API service", errWireProtocol, c)
		}
	}
	return nil
}

// word starts a word of the length read.
func (g *wireGuard) word() error {
	if g.n > g.limit {
		return fmt.Errorf("%w: a word of %d bytes, more than the %d this plugin accepts; "+
			"check that the address and port are the router's API service", errWireProtocol, g.n, g.limit)
	}
	g.skip, g.n = g.n, 0
	return nil
}
