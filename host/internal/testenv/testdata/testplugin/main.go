// Command testplugin is a plugin that misbehaves on purpose, for the host's
// integration tests. Its behaviour comes from testplugin.json beside the
// executable (the host scrubs the environment, so it cannot come from there).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// behaviour is testplugin.json.
type behaviour struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// Mode: "ok", "crash" (exit 3 before the handshake), "stdout" (print to
	// stdout before the handshake), "slow" (sleep SlowMS before serving),
	// "badhandshake" (speak plugin protocol 99), "mismatch" (Describe
	// answers DescribeVersion).
	Mode            string `json:"mode"`
	SlowMS          int    `json:"slow_ms"`
	DescribeVersion string `json:"describe_version"`
	// Health is what CheckHealth reports: "ok" (default), "degraded", "error".
	Health string `json:"health"`
	// HangHealthAfter makes CheckHealth block forever after this many calls
	// (0: never).
	HangHealthAfter int `json:"hang_health_after"`
	// Log, when set, gets a line "<name> start <unix nanos>" at process start
	// and "<name> stop <unix nanos>" at graceful shutdown.
	Log string `json:"log"`
	// EnvFile, when set, receives the process environment as a JSON list.
	EnvFile string `json:"env_file"`
	// ExitAfterMS exits with status 2 this long after the first health
	// check answered (the host's check at start), so the plugin always
	// starts, however slow the machine, and then crashes (0: never).
	ExitAfterMS int `json:"exit_after_ms"`
	// SlowFromStart makes start number N and later (counted in the data
	// directory, from 1) sleep SlowMS before serving; 0 means mode decides.
	SlowFromStart int `json:"slow_from_start"`
	// SpawnChild starts a long "sleep" child, to check it dies with the
	// plugin's process group.
	SpawnChild bool `json:"spawn_child"`
	// ChildPIDFile, with SpawnChild, receives the child's pid.
	ChildPIDFile string `json:"child_pid_file"`
	// PIDFile, when set, receives the process's own pid at each start,
	// before a slow start's sleep.
	PIDFile string `json:"pid_file"`
	// CallDelayMS makes CreatePayment take this long.
	CallDelayMS int `json:"call_delay_ms"`
	// SettingsFile, when set, gets a line with the settings of each
	// Configure call it accepts. Settings with "refuse": true are refused.
	SettingsFile string `json:"settings_file"`
}

func main() {
	exe, _ := os.Executable()
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "testplugin.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "testplugin: no testplugin.json beside the executable:", err)
		os.Exit(1)
	}
	var b behaviour
	if err := json.Unmarshal(raw, &b); err != nil {
		fmt.Fprintln(os.Stderr, "testplugin:", err)
		os.Exit(1)
	}
	record(b.Log, b.Name+" start")
	if b.PIDFile != "" {
		_ = os.WriteFile(b.PIDFile, []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
	starts := countStart()
	if b.SlowFromStart > 0 && starts >= b.SlowFromStart {
		time.Sleep(time.Duration(b.SlowMS) * time.Millisecond)
	}
	if b.SpawnChild {
		child := exec.Command("sleep", "300")
		if err := child.Start(); err == nil && b.ChildPIDFile != "" {
			_ = os.WriteFile(b.ChildPIDFile, []byte(strconv.Itoa(child.Process.Pid)), 0o600)
		}
	}
	if b.EnvFile != "" {
		env := os.Environ()
		sort.Strings(env)
		raw, _ := json.Marshal(env)
		_ = os.WriteFile(b.EnvFile, raw, 0o600)
	}
	switch b.Mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "panic: boom at start")
		os.Exit(3)
	case "stdout":
		fmt.Println("hello from a chatty plugin")
	case "slow":
		time.Sleep(time.Duration(b.SlowMS) * time.Millisecond)
	case "badhandshake":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: 99, MagicCookieKey: "MIKROBILL_PLUGIN_MAGIC_COOKIE", MagicCookieValue: "4d1a0f1b-7c2e-4b8e-9a55-mikrobill-plugin-v1"},
			Plugins:         plugin.PluginSet{},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
		return
	}
	base := &generic{b: b}
	if b.Kind == sdk.KindPayment {
		sdk.Serve(&gateway{generic: base})
	} else {
		sdk.Serve(base)
	}
}

// countStart counts this start in the data directory and returns the count.
func countStart() int {
	dir := os.Getenv("MIKROBILL_PLUGIN_DATA_DIR")
	if dir == "" {
		return 1
	}
	path := filepath.Join(dir, "starts")
	raw, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	n++
	_ = os.WriteFile(path, []byte(strconv.Itoa(n)), 0o600)
	return n
}

func record(path, what string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %d\n", what, time.Now().UnixNano())
}

type generic struct {
	sdk.Base
	b      behaviour
	checks atomic.Int64
}

func (g *generic) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	v := g.b.Version
	if g.b.Mode == "mismatch" {
		v = g.b.DescribeVersion
	}
	return &sdk.DescribeResponse{Name: g.b.Name, Version: v}, nil
}

func (g *generic) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	var s struct {
		Refuse bool `json:"refuse"`
	}
	_ = json.Unmarshal(req.Settings, &s)
	if s.Refuse {
		return nil, fmt.Errorf("%w: refuse is set", sdk.ErrInvalidArgument)
	}
	if g.b.SettingsFile != "" {
		f, err := os.OpenFile(g.b.SettingsFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%s\n", req.Settings)
			f.Close()
		}
	}
	return &sdk.ConfigureResponse{Warnings: []string{"configured"}}, nil
}

func (g *generic) CheckHealth(ctx context.Context, _ *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	n := g.checks.Add(1)
	if n == 1 && g.b.ExitAfterMS > 0 {
		time.AfterFunc(time.Duration(g.b.ExitAfterMS)*time.Millisecond, func() { os.Exit(2) })
	}
	if g.b.HangHealthAfter > 0 && n > int64(g.b.HangHealthAfter) {
		<-ctx.Done()
		select {} // hung: answers nothing, ever
	}
	switch g.b.Health {
	case "degraded":
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "half of it works"}, nil
	case "error":
		return &sdk.CheckHealthResponse{Status: sdk.HealthError, Message: "nothing works"}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: "fine", Details: map[string]any{"checks": n}}, nil
}

func (g *generic) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	return &sdk.CollectMetricsResponse{Text: []byte("# HELP testplugin_widgets_total Widgets made.\n# TYPE testplugin_widgets_total counter\ntestplugin_widgets_total 3\n")}, nil
}

func (g *generic) Shutdown(context.Context) error {
	record(g.b.Log, g.b.Name+" stop")
	return nil
}

// gateway is the payment flavour.
type gateway struct{ *generic }

// CreatePayment answers a pending payment. With metadata "store_ttl" or
// "cache_ttl" (a Go duration) it first claims "idem/<idempotency key>" in
// the host's durable store or cache with that TTL (OnlyIfAbsent), and
// answers the host's refusal, or sdk.ErrAlreadyExists when the key is
// taken: the host's tests of its key-value service through a real plugin.
func (g *gateway) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	time.Sleep(time.Duration(g.b.CallDelayMS) * time.Millisecond)
	key := "idem/" + req.IdempotencyKey
	for ns, v := range req.Metadata {
		if ns != "store_ttl" && ns != "cache_ttl" {
			continue
		}
		ttl, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", sdk.ErrInvalidArgument, ns, err)
		}
		var stored bool
		if ns == "store_ttl" {
			stored, err = g.Host().StoreSet(ctx, key, []byte(req.OrderID), sdk.StoreSetOptions{TTL: ttl, OnlyIfAbsent: true})
		} else {
			stored, err = g.Host().CacheSet(ctx, key, []byte(req.OrderID), sdk.CacheSetOptions{TTL: ttl, OnlyIfAbsent: true})
		}
		if err != nil {
			return nil, err
		}
		if !stored {
			return nil, fmt.Errorf("%w: idempotency key %s is taken", sdk.ErrAlreadyExists, req.IdempotencyKey)
		}
	}
	return &payment.CreatePaymentResponse{Payment: payment.Payment{ID: "T-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount}}, nil
}

func (g *gateway) GetPayment(_ context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	return nil, fmt.Errorf("%w: %s", payment.ErrUnknownOrder, req.ID)
}

func (g *gateway) HandleWebhook(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	return nil, payment.ErrInvalidSignature
}
