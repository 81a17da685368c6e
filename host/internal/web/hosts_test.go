package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// fakeHosts is a registry of two hosts, one gone.
type fakeHosts struct{ changed []string }

func (f *fakeHosts) View(context.Context) (hosts.View, error) {
	now := time.Now().UTC()
	h := func(id, state string, leader, self bool, beat time.Time) hosts.Host {
		return hosts.Host{HostRow: store.HostRow{ID: id, Version: "0.9.0", StartedAt: now.Add(-time.Hour), HeartbeatAt: beat,
			Plugins: json.RawMessage(`[{"name":"payment-manual","state":"running"}]`)}, State: state, Leader: leader, Self: self}
	}
	return hosts.View{Leader: "billing-1", GoneAfterSeconds: 8, Hosts: []hosts.Host{
		h("billing-1", hosts.StateAlive, true, true, now), h("billing-2", hosts.StateGone, false, false, now.Add(-time.Minute))}}, nil
}

func (f *fakeHosts) Changed(_ context.Context, kind, plugin string) error {
	f.changed = append(f.changed, kind+":"+plugin)
	return nil
}

// TestHostsView: GET /api/v1/hosts for any role, and the plugin list's
// table of hosts.
func TestHostsView(t *testing.T) {
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) { d.Plugins = noPlugins(t, d.Config); d.Hosts = &fakeHosts{} })
	a.user("vera", "viewer password 1", RoleViewer)
	tok := a.loginJWT("vera", "viewer password 1")

	if r := a.do(http.MethodGet, "/api/v1/hosts", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", r.Status)
	}
	r := a.do(http.MethodGet, "/api/v1/hosts", nil, withBearer(tok))
	var v struct {
		Hosts []struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Leader bool   `json:"leader"`
		} `json:"hosts"`
		Leader string `json:"leader"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &v) != nil || v.Leader != "billing-1" || len(v.Hosts) != 2 ||
		v.Hosts[1].State != "gone" || !v.Hosts[0].Leader {
		t.Fatalf("GET /api/v1/hosts: %d %s", r.Status, r.Body)
	}

	req := httptest.NewRequest(http.MethodGet, "/plugin", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)
	page := w.Body.String()
	if w.Code != http.StatusOK ||
		!regexp.MustCompile(`(?s)data-host="billing-1".*billing-1 \(this one\).*alive.*leader.*payment-manual: running`).MatchString(page) ||
		!regexp.MustCompile(`(?s)data-host="billing-2".*gone.*1m0s ago`).MatchString(page) {
		t.Fatalf("the plugin list's hosts: %d %s", w.Code, page[strings.Index(page, "<main"):])
	}
}
