package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Secrets of the log tests: none may appear in any log line.
const (
	routerPassword = "R0uter-Secret-Pw"
	hotspotPW      = "Hs-User-Secret-1"
	hotspotPW2     = "Hs-User-Secret-2"
	pppPW          = "Ppp-User-Secret-1"
)

// everyOperation runs every operation of the plugin (and some failures)
// against location "main".
func everyOperation(t *testing.T, rt router.Router, base sdk.Plugin, r *routertest.Router) {
	t.Helper()
	ctx := ctxT(t)
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	r.Add(hsActive, map[string]string{"user": "hs-user", "address": "10.5.50.2"})
	r.Add(pppActive, map[string]string{"name": "ppp-user", "address": "10.9.0.2"})
	_, err := rt.ListLocations(ctx, &router.ListLocationsRequest{})
	ok("ListLocations", err)
	_, err = rt.GetResources(ctx, &router.GetResourcesRequest{Location: "main"})
	ok("GetResources", err)
	for _, kind := range []router.UserKind{router.KindHotspot, router.KindPPP} {
		_, err = rt.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: router.Profile{Kind: kind, Name: "gold", RateLimit: "2M/4M"}})
		ok("EnsureProfile", err)
		_, err = rt.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: router.Profile{Kind: kind, Name: "isolated", AddressList: "unpaid"}})
		ok("EnsureProfile", err)
		_, err = rt.ListProfiles(ctx, &router.ListProfilesRequest{Location: "main", Kind: kind})
		ok("ListProfiles", err)
	}
	users := []router.User{
		{Kind: router.KindHotspot, Name: "hs-user", Password: hotspotPW, Profile: "gold"},
		{Kind: router.KindPPP, Name: "ppp-user", Password: pppPW, Profile: "gold"},
	}
	for _, u := range users {
		_, err = rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: u})
		ok("UpsertUser", err)
		_, err = rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: u})
		ok("UpsertUser again", err)
		ref := router.UserRef{Location: "main", Kind: u.Kind, Name: u.Name}
		_, err = rt.GetUser(ctx, &router.GetUserRequest{User: ref})
		ok("GetUser", err)
		_, err = rt.ListUsers(ctx, &router.ListUsersRequest{Location: "main", Kind: u.Kind})
		ok("ListUsers", err)
		_, err = rt.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{Location: "main", Kind: u.Kind})
		ok("ListActiveSessions", err)
		_, err = rt.DisableUser(ctx, &router.DisableUserRequest{User: ref, Disconnect: true})
		ok("DisableUser", err)
		_, err = rt.EnableUser(ctx, &router.EnableUserRequest{User: ref})
		ok("EnableUser", err)
		_, err = rt.IsolateUser(ctx, &router.IsolateUserRequest{User: ref, IsolationProfile: "isolated", Disconnect: true})
		ok("IsolateUser", err)
		_, err = rt.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: "main", Kind: u.Kind, User: u.Name})
		ok("DisconnectSession", err)
	}
	// A password change, a write the router refuses, a broken connection.
	u := users[0]
	u.Password = hotspotPW2
	r.Inject(hsUser+"/set", routertest.Fault{Trap: "invalid value for argument password"})
	if _, err = rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: u}); err == nil {
		t.Fatal("no error for a trap")
	}
	r.Inject(hsUser+"/set", routertest.Fault{RestartAfter: true})
	_, err = rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: u})
	ok("UpsertUser across a reboot", err)
	for _, u := range users {
		_, err = rt.RemoveUser(ctx, &router.RemoveUserRequest{User: router.UserRef{Location: "main", Kind: u.Kind, Name: u.Name}, Disconnect: true})
		ok("RemoveUser", err)
		_, err = rt.RemoveProfile(ctx, &router.RemoveProfileRequest{Location: "main", Kind: u.Kind, Name: "gold"})
		ok("RemoveProfile", err)
	}
	_, err = base.CheckHealth(ctx, &sdk.CheckHealthRequest{})
	ok("CheckHealth", err)
	_, err = base.CollectMetrics(ctx, &sdk.CollectMetricsRequest{})
	ok("CollectMetrics", err)
}

// checkNoSecrets fails the test if logs hold a password or a challenge
// response the router received.
func checkNoSecrets(t *testing.T, logs string, r *routertest.Router) {
	t.Helper()
	secrets := []string{routerPassword, hotspotPW, hotspotPW2, pppPW}
	for _, c := range r.Commands() {
		if v := c.Attrs["response"]; v != "" {
			secrets = append(secrets, v, strings.TrimPrefix(v, "00"))
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			i := strings.Index(logs, s)
			t.Errorf("the logs hold the secret %q: ...%s...", s, logs[max(0, i-200):min(len(logs), i+50)])
		}
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		name := "login 6.43+"
		if legacy {
			name = "challenge login"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, r, logs := setup(t, routertest.Options{Password: routerPassword, LegacyLogin: legacy})
			everyOperation(t, p, p, r)
			// A refused login, at trace too.
			bad := routertest.Start(t, routertest.Options{Password: routerPassword + "-other", LegacyLogin: legacy})
			configure(t, p, map[string]any{"locations": []any{loc("main", r, routerPassword), loc("bad", bad, routerPassword)}})
			if _, err := p.GetResources(ctxT(t), &router.GetResourcesRequest{Location: "bad"}); err == nil {
				t.Fatal("no error for a bad password")
			}
			out := logs.String()
			checkNoSecrets(t, out, r)
			checkNoSecrets(t, out, bad)
			// The library's own records reached the logger, redacted.
			for _, want := range []string{`go-routeros: RunArgsContext`, `=password=[redacted]`, `/ip/hotspot/user/add`} {
				if !strings.Contains(out, want) {
					t.Errorf("the trace log lacks %q", want)
				}
			}
			if legacy && !strings.Contains(out, `=response=[redacted]`) {
				t.Error("the trace log lacks the redacted challenge response")
			}
		})
	}
}

func TestRouterosLogHandler(t *testing.T) {
	t.Parallel()
	buf := &sdktest.Buffer{}
	h := newRouterosLog(hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: buf}))
	l := slog.New(h).With("conn", "=password=a1").WithGroup("g")
	l.Debug("RunArgsContext", slog.Any("sentences", []string{"/login", "=name=admin", "=password=p1", "=response=00abc"}))
	l.Info("x", "s", "=password=p2", "e", errString("bad =response=p3"), "n", 3)
	l.Warn("msg with =password=p4")
	l.Debug("grouped", slog.Group("grp", slog.String("w", "=password=p5")))
	out := buf.String()
	for _, s := range []string{"p1", "a1", "p2", "p3", "p4", "p5", "00abc"} {
		if strings.Contains(out, "="+s) || strings.Contains(out, s+" ") {
			t.Errorf("secret %q in %s", s, out)
		}
	}
	for _, want := range []string{"=name=admin", "=password=[redacted]", "=response=[redacted]", "[TRACE]", "[DEBUG]", "[WARN]", "g.n=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	off := newRouterosLog(hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: buf}))
	if off.Enabled(context.Background(), slog.LevelDebug) || !off.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("levels: debug records must be trace, warnings warnings")
	}
}

type errString string

func (e errString) Error() string { return string(e) }
