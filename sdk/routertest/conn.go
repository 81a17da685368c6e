package routertest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one API connection.
type conn struct {
	r  *Router
	nc net.Conn
	br *bufio.Reader

	wmu sync.Mutex // one reply (all its sentences) at a time
	bw  *bufio.Writer

	done      chan struct{}
	closeOnce sync.Once

	loggedIn  atomic.Bool
	mu        sync.Mutex
	challenge []byte                   // legacy login: the last challenge sent
	waiting   map[string]chan struct{} // tag -> closed by /cancel, for delayed commands
}

func newConn(r *Router, nc net.Conn) *conn {
	return &conn{
		r:       r,
		nc:      nc,
		br:      bufio.NewReader(nc),
		bw:      bufio.NewWriter(nc),
		done:    make(chan struct{}),
		waiting: make(map[string]chan struct{}),
	}
}

// close drops the connection; it is safe to call more than once.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.nc.Close()
		c.r.mu.Lock()
		delete(c.r.conns, c)
		c.r.mu.Unlock()
	})
}

func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// serve reads sentences until the connection ends. Commands are answered
// in the order they arrive, except that a tagged command held by a
// Fault.Delay waits on its own so the connection's other tagged commands
// go on (as on a router, where tagged commands run concurrently).
func (c *conn) serve() {
	var wg sync.WaitGroup
	defer func() {
		c.close()
		wg.Wait()
	}()
	for {
		words, err := readSentence(c.br, maxWordLen)
		if err != nil {
			if !c.closed() && !errors.Is(err, io.EOF) {
				c.r.logf("routertest: %s: read: %v", c.nc.RemoteAddr(), err)
			}
			return
		}
		cmd := parseCommand(words)
		c.r.mu.Lock()
		c.r.commands = append(c.r.commands, cmd.clone())
		f, faulty := c.r.takeFaultLocked(cmd.Word)
		c.r.mu.Unlock()
		if faulty {
			c.r.logf("routertest: %s: %s (fault %+v)", c.nc.RemoteAddr(), redact(words), f)
		} else {
			c.r.logf("routertest: %s: %s", c.nc.RemoteAddr(), redact(words))
		}
		if faulty && f.Delay > 0 && cmd.Tag != "" {
			cancel := make(chan struct{})
			c.mu.Lock()
			c.waiting[cmd.Tag] = cancel
			c.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.mu.Lock()
					if c.waiting[cmd.Tag] == cancel {
						delete(c.waiting, cmd.Tag)
					}
					c.mu.Unlock()
				}()
				c.handle(cmd, f, cancel)
			}()
			continue
		}
		if !c.handle(cmd, f, nil) {
			return
		}
	}
}

// handle applies one command, with its fault, and answers it. It reports
// whether the connection is still open.
func (c *conn) handle(cmd Command, f Fault, cancel <-chan struct{}) bool {
	if d := c.r.opts.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return false
		}
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return false
		case <-cancel:
			t.Stop()
			c.reply(cmd.Tag, trapReply(msgInterrupted, "2"))
			return true
		}
	}
	switch {
	case f.Drop:
		c.close()
		return false
	case f.Fatal != "":
		c.reply("", sentences{{"!fatal", f.Fatal}})
		c.close()
		return false
	case f.Trap != "":
		c.reply(cmd.Tag, trapReply(f.Trap, ""))
		return true
	}
	out, quit := c.exec(cmd)
	if f.RestartAfter {
		c.r.Restart()
		return false
	}
	c.reply(cmd.Tag, out)
	if quit {
		c.close()
		return false
	}
	return !c.closed()
}

// sentences is a reply: one or more sentences of words.
type sentences [][]string

func trapReply(message, category string) sentences {
	trap := []string{"!trap"}
	if category != "" {
		trap = append(trap, "=category="+category)
	}
	trap = append(trap, "=message="+message)
	return sentences{trap, {"!done"}}
}

// reply writes a reply, adding .tag=<tag> to every sentence when tag is
// set. Write errors end the connection.
func (c *conn) reply(tag string, out sentences) {
	var b []byte
	for _, s := range out {
		words := s
		if tag != "" {
			words = append(append([]string(nil), s...), ".tag="+tag)
		}
		b = appendSentence(b, words...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed() {
		return
	}
	_, err := c.bw.Write(b)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.close()
	}
}

// parseCommand splits a sentence into its command word, attributes,
// queries and tag.
func parseCommand(words []string) Command {
	cmd := Command{Word: words[0], Attrs: make(map[string]string)}
	for _, w := range words[1:] {
		switch {
		case strings.HasPrefix(w, ".tag="):
			cmd.Tag = w[len(".tag="):]
		case strings.HasPrefix(w, "="):
			k, v, _ := strings.Cut(w[1:], "=")
			cmd.Attrs[k] = v
		case strings.HasPrefix(w, "?"):
			cmd.Queries = append(cmd.Queries, w)
		case strings.HasPrefix(w, "."):
			// API attributes other than .tag (".proplist=..." without the
			// leading "="): treat as attributes.
			k, v, _ := strings.Cut(w, "=")
			cmd.Attrs[k] = v
		}
	}
	return cmd
}

// redact renders a sentence for the log without secrets.
func redact(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		k, _, _ := strings.Cut(strings.TrimPrefix(w, "="), "=")
		switch {
		case strings.HasPrefix(w, "=") && isSecret(k):
			out[i] = "=" + k + "=<redacted>"
		case len(w) > 200:
			out[i] = w[:200] + "...(" + strconv.Itoa(len(w)) + " bytes)"
		default:
			out[i] = w
		}
	}
	return strings.Join(out, " ")
}

func isSecret(k string) bool {
	switch k {
	case "password", "response", "passphrase", "secret", "key":
		return true
	}
	return false
}
