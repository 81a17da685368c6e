package sdk

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// processLogger is the logger of the plugin this process serves, set by
// Serve (not by sdktest, which may serve several plugins in one process).
var processLogger atomic.Pointer[hclog.Logger]

// Logger returns the plugin's logger as a standard *slog.Logger: JSON lines
// on stderr in hclog's format (@level, @message, @timestamp, @module), which
// the host parses and forwards into its own log under "plugin.<name>" at
// each line's level. Nothing but the handshake may go to stdout, so never
// log with fmt.Print or the log package's default logger.
//
// Before Serve, and in tests that serve plugins in-process, it writes the
// same format to stderr; a plugin that embeds Base gets the logger of the
// running plugin itself from Base.Log. Keys are flat: a group's attributes
// are written as "group.key".
func Logger() *slog.Logger {
	if l := processLogger.Load(); l != nil {
		return NewSlog(*l)
	}
	return NewSlog(defaultLogger)
}

// NewSlog returns a *slog.Logger that writes through an hclog.Logger, at its
// level and in its format.
func NewSlog(l hclog.Logger) *slog.Logger { return slog.New(&hclogHandler{l: l}) }

// Log returns the plugin's logger (the one Logger returns, as hclog) as a
// standard *slog.Logger.
func (b *Base) Log() *slog.Logger { return NewSlog(b.Logger()) }

// hclogHandler is a slog.Handler writing through an hclog.Logger.
type hclogHandler struct {
	l      hclog.Logger
	prefix string // the open groups, "a.b."
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool {
	lvl := hclogLevel(l)
	return lvl >= h.l.GetLevel()
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, 2*r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		args = appendAttr(args, h.prefix, a)
		return true
	})
	h.l.Log(hclogLevel(r.Level), r.Message, args...)
	return nil
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var args []any
	for _, a := range attrs {
		args = appendAttr(args, h.prefix, a)
	}
	return &hclogHandler{l: h.l.With(args...), prefix: h.prefix}
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &hclogHandler{l: h.l, prefix: h.prefix + name + "."}
}

// appendAttr flattens a into hclog's key-value pairs.
func appendAttr(args []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			args = appendAttr(args, p, g)
		}
		return args
	}
	if a.Key == "" {
		return args
	}
	key := prefix + a.Key
	if strings.HasPrefix(key, "@") {
		key = "_" + key // hclog's own fields
	}
	return append(args, key, v.Any())
}
