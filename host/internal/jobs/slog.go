package jobs

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// slogFor adapts an hclog logger for River, which logs with log/slog.
func slogFor(l hclog.Logger) *slog.Logger { return slog.New(&hclogHandler{l: l}) }

type hclogHandler struct {
	l     hclog.Logger
	attrs []any
}

func (h *hclogHandler) Enabled(_ context.Context, level slog.Level) bool {
	switch {
	case level >= slog.LevelError:
		return h.l.IsError()
	case level >= slog.LevelWarn:
		return h.l.IsWarn()
	case level >= slog.LevelInfo:
		// River's info lines are routine (leadership, maintenance): debug
		// here.
		return h.l.IsDebug()
	default:
		return h.l.IsTrace()
	}
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.l.Error(r.Message, args...)
	case r.Level >= slog.LevelWarn:
		h.l.Warn(r.Message, args...)
	case r.Level >= slog.LevelInfo:
		h.l.Debug(r.Message, args...)
	default:
		h.l.Trace(r.Message, args...)
	}
	return nil
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &hclogHandler{l: h.l, attrs: append([]any(nil), h.attrs...)}
	for _, a := range attrs {
		n.attrs = append(n.attrs, a.Key, a.Value.Any())
	}
	return n
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	return &hclogHandler{l: h.l.Named(name), attrs: h.attrs}
}
