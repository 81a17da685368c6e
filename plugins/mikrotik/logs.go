package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// secretWords are the API words whose values are secrets: a user's
// password (login, add and set of users, and their print) and the
// challenge response of the pre-6.43 login.
var secretWords = []string{"=password=", "=response="}

// redacted replaces a secret's value.
const redacted = "[redacted]"

// redactWord hides the value of a secret API word.
func redactWord(w string) string {
	for _, p := range secretWords {
		if strings.HasPrefix(w, p) {
			return p + redacted
		}
	}
	return w
}

// hasSecret reports whether s holds a secret API word anywhere.
func hasSecret(s string) bool {
	for _, p := range secretWords {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// routerosLog is the slog handler given to every go-routeros client. The
// library's default handler writes to stdout, which belongs to the plugin
// handshake, and at debug level it logs whole sentences, passwords
// included. This one sends its records to the plugin's hclog logger (JSON on
// stderr) at trace level, with the value of every =password= and
// =response= word replaced; a value it cannot take apart that holds one is
// dropped whole.
type routerosLog struct {
	log   hclog.Logger
	attrs []any
	group string
}

func newRouterosLog(log hclog.Logger) *routerosLog {
	return &routerosLog{log: log}
}

// Enabled implements slog.Handler: go-routeros logs sentences at debug,
// which is trace for us; its warnings and errors keep their level.
func (h *routerosLog) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() != hclog.Off && h.log.GetLevel() <= hclevel(l)
}

func hclevel(l slog.Level) hclog.Level {
	switch {
	case l >= slog.LevelError:
		return hclog.Error
	case l >= slog.LevelWarn:
		return hclog.Warn
	case l >= slog.LevelInfo:
		return hclog.Debug
	default:
		return hclog.Trace
	}
}

// Handle implements slog.Handler.
func (h *routerosLog) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, h.key(a.Key), safeValue(a.Value))
		return true
	})
	msg := r.Message
	if hasSecret(msg) {
		msg = redacted
	}
	h.log.Log(hclevel(r.Level), "go-routeros: "+msg, args...)
	return nil
}

func (h *routerosLog) key(k string) string {
	if h.group == "" {
		return k
	}
	return h.group + "." + k
}

// WithAttrs implements slog.Handler.
func (h *routerosLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		n.attrs = append(n.attrs, h.key(a.Key), safeValue(a.Value))
	}
	return &n
}

// WithGroup implements slog.Handler.
func (h *routerosLog) WithGroup(name string) slog.Handler {
	n := *h
	n.group = h.key(name)
	return &n
}

// safeValue renders a log value with its secrets hidden.
func safeValue(v slog.Value) any {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return safeString(v.String())
	case slog.KindAny:
		switch x := v.Any().(type) {
		case []string:
			out := make([]string, len(x))
			for i, w := range x {
				out[i] = redactWord(w)
			}
			return out
		case error:
			return safeString(x.Error())
		default:
			return safeString(fmt.Sprint(x))
		}
	case slog.KindGroup:
		out := map[string]any{}
		for _, a := range v.Group() {
			out[a.Key] = safeValue(a.Value)
		}
		return out
	default:
		return safeString(v.String())
	}
}

func safeString(s string) string {
	if hasSecret(s) {
		return redacted
	}
	return s
}
