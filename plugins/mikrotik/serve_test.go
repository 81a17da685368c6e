package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// overTheWire runs the plugin's operations through the host's clients and
// checks that errors keep their sentinels across gRPC.
func overTheWire(t *testing.T, base client.Plugin, rt router.Router, r *routertest.Router) {
	t.Helper()
	ctx := ctxT(t)
	settings, _ := json.Marshal(map[string]any{"locations": []any{loc("main", r, routerPassword)}})
	if _, err := base.Configure(ctx, &sdk.ConfigureRequest{Settings: settings}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	bad, _ := json.Marshal(map[string]any{"locations": []any{map[string]any{"id": "Main"}}})
	_, err := base.Configure(ctx, &sdk.ConfigureRequest{Settings: bad})
	wantErr(t, "Configure with bad settings", err, sdk.ErrInvalidArgument)

	desc, err := base.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || desc.Name != Name || desc.Version != Version || desc.Kind != sdk.KindRouter {
		t.Fatalf("Describe = %+v, %v", desc, err)
	}

	everyOperation(t, rt, base, r)

	up, err := rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: router.User{
		Kind: router.KindPPP, Name: "wire", Password: pppPW, LimitUptime: time.Hour, Comment: "over gRPC"}})
	if err != nil || !up.Created || up.User.Comment != "over gRPC" || !up.User.Managed || up.User.Password != "" {
		t.Fatalf("UpsertUser = %+v, %v", up, err)
	}

	r.Add(hsUser, map[string]string{"name": "theirs"})
	_, err = rt.DisableUser(ctx, &router.DisableUserRequest{User: router.UserRef{Location: "main", Kind: router.KindHotspot, Name: "theirs"}})
	wantErr(t, "DisableUser of an entry not ours", err, router.ErrNotManaged, sdk.ErrPermissionDenied)
	_, err = rt.GetUser(ctx, &router.GetUserRequest{User: router.UserRef{Location: "branch", Kind: router.KindHotspot, Name: "x"}})
	wantErr(t, "GetUser on an unknown location", err, router.ErrUnknownLocation, sdk.ErrNotFound)
	_, err = rt.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: router.Profile{Kind: router.KindHotspot, Name: "x", RateLimit: "fast"}})
	wantErr(t, "EnsureProfile with a bad rate limit", err, router.ErrInvalidRateLimit, sdk.ErrInvalidArgument)

	h, err := base.CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || h.Status != sdk.HealthOK {
		t.Fatalf("CheckHealth = %+v, %v", h, err)
	}
	m, err := base.CollectMetrics(ctx, &sdk.CollectMetricsRequest{})
	if err != nil || !strings.Contains(string(m.Text), `mikrobill_router_commands_total{command="/ppp/secret/add",location="main",outcome="ok"}`) {
		t.Fatalf("CollectMetrics = %s, %v", m.Text, err)
	}

	r.Stop()
	_, err = rt.ListUsers(ctx, &router.ListUsersRequest{Location: "main", Kind: router.KindHotspot})
	wantErr(t, "ListUsers with the router off", err, router.ErrRouterUnreachable, sdk.ErrUnavailable)
	r.Resume()
}

func TestInProcess(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{Password: routerPassword, LegacyLogin: true})
	log, logs := sdktest.Logger(t)
	h := sdktest.Serve(t, NewPlugin(), sdktest.WithLogger(log))
	overTheWire(t, h.Plugin(), h.Router(), r)
	checkNoSecrets(t, logs.String(), r)
	if !strings.Contains(logs.String(), "go-routeros: RunArgsContext") {
		t.Error("the plugin did not log through the logger sdk.Serve gave it")
	}
}

// The built executable, launched as the host launches it: stdout carries
// the go-plugin handshake and nothing else.
func TestExecutable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "mikrobill-plugin-"+Name)
	build := exec.Command(goTool(t), "build", "-o", exe, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	socketDir, err := os.MkdirTemp("/tmp", "mbmt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(socketDir) })
	if err := os.Chmod(socketDir, 0o700); err != nil {
		t.Fatal(err)
	}

	logger, logs := sdktest.Logger(t)
	stopped := false
	proc, err := client.Start(context.Background(), client.Config{
		Name:      Name,
		Path:      exe,
		Env:       []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "MIKROBILL_PLUGIN_DATA_DIR=" + dir},
		SocketDir: socketDir,
		Logger:    logger,
		LogLevel:  "trace",
		Host:      sdktest.NewFakeHost(),
	})
	if err != nil {
		t.Fatalf("client.Start: %v", err)
	}
	t.Cleanup(func() {
		if !stopped {
			proc.Kill()
		}
	})
	if d := proc.Describe(); d.Name != Name || d.Kind != sdk.KindRouter {
		t.Fatalf("Describe at start = %+v", d)
	}
	r := routertest.Start(t, routertest.Options{Password: routerPassword})
	conn := proc.Conn()
	overTheWire(t, client.NewPlugin(conn.ClientConn(), conn.HostBrokerID), client.NewRouter(conn.ClientConn(), conn.HostBrokerID), r)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := proc.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	stopped = true
	out := logs.String()
	if strings.Contains(out, "plugin wrote to stdout") {
		t.Errorf("the plugin wrote to stdout:\n%s", out)
	}
	if !strings.Contains(out, "go-routeros: RunArgsContext") {
		t.Error("the plugin's trace log did not reach the host")
	}
	checkNoSecrets(t, out, r)
}

// goTool finds the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	t.Fatal("the go command is neither on PATH nor in $GOROOT/bin; the executable test needs it to build the plugin")
	return ""
}
