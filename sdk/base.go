package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Base gives a plugin working defaults and access to what the SDK provides at
// run time. Embed it in your implementation by value, and pass a pointer to
// the implementation to Serve, as the package example does.
//
// Adding methods to Plugin later gives them defaults here, so a plugin that
// embeds Base keeps compiling.
type Base struct {
	mu sync.RWMutex
	rt *runtime
}

// runtime is what Serve hands to the implementation.
type runtime struct {
	logger hclog.Logger
	host   *hostProxy
}

// binder is implemented by *Base and, through embedding, by every plugin that
// embeds Base.
type binder interface {
	bindRuntime(rt *runtime)
}

func (b *Base) bindRuntime(rt *runtime) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rt = rt
}

func (b *Base) runtime() *runtime {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.rt
}

// Logger returns the plugin's logger: hclog JSON on stderr, which the host
// forwards into its own log under "plugin.<name>". Before Serve it returns a
// logger with the same format and no host attached. Log returns the same
// logger as a standard *slog.Logger, so a plugin need not import go-hclog;
// this one is kept for plugins written before.
func (b *Base) Logger() hclog.Logger {
	if rt := b.runtime(); rt != nil {
		return rt.logger
	}
	return defaultLogger
}

// Host returns the services the host offers this plugin: a durable store
// and a cache of its own (see Host for which to use) and event publishing. They work once the host has called
// Configure; before that every call fails with ErrFailedPrecondition.
func (b *Base) Host() Host {
	if rt := b.runtime(); rt != nil {
		return rt.host
	}
	return &hostProxy{}
}

// Configure accepts an empty settings object. A plugin with settings
// overrides it and decodes them with DecodeConfig.
func (b *Base) Configure(_ context.Context, req *ConfigureRequest) (*ConfigureResponse, error) {
	if !emptySettings(req.Settings) {
		return nil, fmt.Errorf("%w: this plugin takes no settings; remove them from the plugin's config block", ErrInvalidArgument)
	}
	return &ConfigureResponse{}, nil
}

// CheckHealth reports HealthOK. Override it to check what the plugin
// depends on.
func (b *Base) CheckHealth(context.Context, *CheckHealthRequest) (*CheckHealthResponse, error) {
	return &CheckHealthResponse{Status: HealthOK}, nil
}

// CollectMetrics reports no metrics. Override it to expose your own.
func (b *Base) CollectMetrics(context.Context, *CollectMetricsRequest) (*CollectMetricsResponse, error) {
	return &CollectMetricsResponse{}, nil
}

func emptySettings(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return string(raw) == "null"
	}
	return len(m) == 0
}

var defaultLogger = newLogger(os.Getenv("MIKROBILL_PLUGIN_LOG_LEVEL"))

// newLogger returns the plugin logger: JSON lines on the real stderr.
func newLogger(level string) hclog.Logger {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		lvl = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Level:      lvl,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}
