package cli

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
)

// closers stops what serve started: each part registers its closer as
// soon as it runs, and close runs them, last registered first, once.
type closers struct {
	log hclog.Logger
	// timeout bounds the whole shutdown (server.shutdown_timeout); each
	// closer gets what is left of it.
	timeout time.Duration

	list []namedCloser
	done bool
}

type namedCloser struct {
	name  string
	close func(context.Context) error
}

// add registers the closer of the part named name.
func (c *closers) add(name string, close func(context.Context) error) {
	c.list = append(c.list, namedCloser{name, close})
}

// close runs the closers in reverse order of registration within the
// shutdown timeout, logging those that fail. Only its first call does
// anything.
func (c *closers) close() {
	if c.done {
		return
	}
	c.done = true
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for i := len(c.list) - 1; i >= 0; i-- {
		if err := c.list[i].close(ctx); err != nil {
			c.log.Warn("stop "+c.list[i].name, "error", err)
		}
	}
}
