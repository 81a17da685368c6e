package routertest_test

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/routertest"
)

// rawClient is a hand-written RouterOS API client over a net.Conn, with its
// own encoder and decoder (independent of the server's), so the tests check
// the wire format itself.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	// prefixes records, for every word read, how many bytes its length
	// took on the wire.
	prefixes map[int]int // word length -> encoded length bytes
}

func dialRaw(t testing.TB, r *routertest.Router) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", r.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", r.Addr(), err)
	}
	return newRaw(t, nc)
}

func dialRawTLS(t testing.TB, r *routertest.Router, cfg *tls.Config) *rawClient {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.Addr(), cfg)
	if err != nil {
		t.Fatalf("dial tls %s: %v", r.Addr(), err)
	}
	return newRaw(t, nc)
}

func newRaw(t testing.TB, nc net.Conn) *rawClient {
	c := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc), prefixes: make(map[int]int)}
	t.Cleanup(func() { _ = nc.Close() })
	return c
}

// rawLength encodes n the way the RouterOS API manual describes it: n
// ORed with a marker, written big-endian in 1, 2, 3, 4 or 5 bytes.
func rawLength(n int) []byte {
	var b [4]byte
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x4000:
		binary.BigEndian.PutUint16(b[:2], uint16(n)|0x8000)
		return append([]byte(nil), b[:2]...)
	case n < 0x200000:
		binary.BigEndian.PutUint32(b[:], uint32(n)|0xC00000)
		return append([]byte(nil), b[1:]...)
	case n < 0x10000000:
		binary.BigEndian.PutUint32(b[:], uint32(n)|0xE0000000)
		return append([]byte(nil), b[:]...)
	default:
		binary.BigEndian.PutUint32(b[:], uint32(n))
		return append([]byte{0xF0}, b[:]...)
	}
}

// encode builds a sentence.
func encode(words ...string) []byte {
	var b []byte
	for _, w := range words {
		b = append(b, rawLength(len(w))...)
		b = append(b, w...)
	}
	return append(b, 0)
}

func (c *rawClient) deadline() {
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
}

func (c *rawClient) writeRaw(b []byte) {
	c.t.Helper()
	c.deadline()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) send(words ...string) { c.t.Helper(); c.writeRaw(encode(words...)) }

func (c *rawClient) readLen() (int, int, error) {
	first, err := c.br.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	var size int
	var n uint32
	switch {
	case first < 0x80:
		return int(first), 1, nil
	case first < 0xC0:
		size, n = 2, uint32(first&^0x80)
	case first < 0xE0:
		size, n = 3, uint32(first&^0xC0)
	case first < 0xF0:
		size, n = 4, uint32(first&^0xE0)
	case first == 0xF0:
		size, n = 5, 0
	default:
		return 0, 0, fmt.Errorf("control byte %#x", first)
	}
	for i := 1; i < size; i++ {
		b, err := c.br.ReadByte()
		if err != nil {
			return 0, 0, err
		}
		n = n<<8 | uint32(b)
	}
	return int(n), size, nil
}

// readSentence reads one sentence (its words without the empty end word).
func (c *rawClient) readSentence() ([]string, error) {
	c.deadline()
	var words []string
	for {
		n, size, err := c.readLen()
		if err != nil {
			return words, err
		}
		if n == 0 {
			return words, nil
		}
		c.prefixes[n] = size
		b := make([]byte, n)
		if _, err := io.ReadFull(c.br, b); err != nil {
			return words, err
		}
		words = append(words, string(b))
	}
}

// reply reads sentences up to and including !done (or a !fatal, or an
// error).
func (c *rawClient) reply() ([][]string, error) {
	var out [][]string
	for {
		s, err := c.readSentence()
		if err != nil {
			return out, err
		}
		out = append(out, s)
		if s[0] == "!done" || s[0] == "!fatal" {
			return out, nil
		}
	}
}

// run sends a command and returns its whole reply.
func (c *rawClient) run(words ...string) [][]string {
	c.t.Helper()
	c.send(words...)
	out, err := c.reply()
	if err != nil {
		c.t.Fatalf("%v: reply so far %q: %v", words, out, err)
	}
	return out
}

// login logs in with the 6.43+ login and fails the test on refusal.
func (c *rawClient) login(user, password string) {
	c.t.Helper()
	out := c.run("/login", "=name="+user, "=password="+password)
	if len(out) != 1 || out[0][0] != "!done" {
		c.t.Fatalf("login: %q", out)
	}
}

// expectEOF checks the server closed the connection (without answering).
func (c *rawClient) expectEOF() {
	c.t.Helper()
	s, err := c.readSentence()
	if err == nil {
		c.t.Fatalf("read %q; want the connection closed", s)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open: %v", err)
	}
}

// attrs is the =key=value words of a sentence as a map.
func attrs(s []string) map[string]string {
	m := make(map[string]string)
	for _, w := range s[1:] {
		if strings.HasPrefix(w, "=") {
			k, v, _ := strings.Cut(w[1:], "=")
			m[k] = v
		}
	}
	return m
}

// words returns the first word of each sentence ("!re", "!done", ...).
func words(reply [][]string) []string {
	out := make([]string, len(reply))
	for i, s := range reply {
		out[i] = s[0]
	}
	return out
}

// trapMessage returns the =message= of the reply's !trap, or fails.
func trapMessage(t testing.TB, reply [][]string) string {
	t.Helper()
	if len(reply) != 2 || reply[0][0] != "!trap" || reply[1][0] != "!done" {
		t.Fatalf("reply %q; want !trap then !done", reply)
	}
	return attrs(reply[0])["message"]
}

func doneRet(t testing.TB, reply [][]string) string {
	t.Helper()
	if len(reply) != 1 || reply[0][0] != "!done" {
		t.Fatalf("reply %q; want !done", reply)
	}
	return attrs(reply[0])["ret"]
}
