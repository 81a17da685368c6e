package sdk

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestSlogWritesWhatTheHostParses checks the lines of NewSlog (what Logger
// and Base.Log return) the way go-plugin's client parses a plugin's stderr:
// JSON with @level, @message, and @timestamp in its layout, the rest as
// key-value pairs.
func TestSlogWritesWhatTheHostParses(t *testing.T) {
	var out strings.Builder
	l := NewSlog(hclog.New(&hclog.LoggerOptions{Output: &out, JSONFormat: true, Level: hclog.Info}))
	l.Debug("not written at info")
	l.With("plugin", "payment-x").WithGroup("call").Warn("gateway slow", "ms", 1500, "error", errors.New("timeout"),
		slog.Group("req", "method", "GET"), "@level", "spoof")
	l.Info("an attribute may not replace hclog's own", "@message", "spoof")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out.String())
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil || second["@message"] != "an attribute may not replace hclog's own" || second["_@message"] != "spoof" {
		t.Errorf("second line %s (%v)", lines[1], err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	// go-plugin (client.go, parseJSON) reads @timestamp with this layout.
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", got["@timestamp"].(string)); err != nil {
		t.Errorf("@timestamp %v: %v", got["@timestamp"], err)
	}
	want := map[string]any{"@level": "warn", "@message": "gateway slow", "plugin": "payment-x", "call.ms": 1500.0,
		"call.error": "timeout", "call.req.method": "GET", "call.@level": "spoof"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, got[k], v, lines[0])
		}
	}
	if !Logger().Enabled(t.Context(), slog.LevelInfo) {
		t.Error("Logger() is not enabled at info")
	}
}
