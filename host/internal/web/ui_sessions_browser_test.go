package web_test

// The online-now page in a real browser: an operator opens it from the
// locations list, sees who is online with bytes and time online written
// for people, in English and in Bahasa Indonesia, disconnects one; the
// table reloads through htmx and stops after its bound.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// onlineRouter answers the sessions calls of a router plugin; the other
// calls are not made by these pages.
type onlineRouter struct {
	router.Router
	mu       sync.Mutex
	sessions []router.Session
}

func (r *onlineRouter) ListActiveSessions(_ context.Context, req *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []router.Session
	for _, s := range r.sessions {
		if s.Kind == req.Kind && req.Location == "warung-kopi" {
			out = append(out, s)
		}
	}
	return &router.ListActiveSessionsResponse{Sessions: out}, nil
}

func (r *onlineRouter) DisconnectSession(_ context.Context, req *router.DisconnectSessionRequest) (*router.DisconnectSessionResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.sessions {
		if s.Kind == req.Kind && s.ID == req.SessionID {
			r.sessions = append(r.sessions[:i], r.sessions[i+1:]...)
			return &router.DisconnectSessionResponse{Disconnected: 1}, nil
		}
	}
	return &router.DisconnectSessionResponse{}, nil
}

func (r *onlineRouter) left() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.sessions {
		out = append(out, s.User)
	}
	return out
}

func TestUIBrowserSessions(t *testing.T) {
	rt := &onlineRouter{sessions: []router.Session{
		{ID: "*1A", Kind: router.KindHotspot, User: "alice", Address: "10.5.50.12", MACAddress: "AA:BB:CC:00:11:22", Uptime: time.Hour + 2*time.Minute + 5*time.Second, BytesIn: 1536, BytesOut: 50 << 20},
		{ID: "*2B", Kind: router.KindHotspot, User: "budi", Address: "10.5.50.13", MACAddress: "AA:BB:CC:00:11:23", Uptime: 26*time.Hour + 3*time.Minute, BytesIn: 3 << 30, BytesOut: 700},
		{ID: "*1A", Kind: router.KindPPP, User: "citra", Address: "10.9.0.7", Uptime: 45 * time.Second, BytesIn: 2 << 20, BytesOut: 5 << 20},
	}}
	var svc *billing.Service
	h := newUIHost(t, withBillingPlugins(&svc, nil, testutil.Plugins{Routers: map[string]router.Router{"mikrotik": rt}}))
	loc := &store.Location{Name: "warung-kopi", Description: "Warung Kopi"}
	if err := h.db.Q().CreateLocation(context.Background(), loc); err != nil {
		t.Fatal(err)
	}
	h.user(t, "olga", "correct horse battery", store.UserRoleOperator)
	h.user(t, "vera", "correct horse battery", store.UserRoleViewer)

	// A viewer sees no button she may not press.
	ctx := browser(t)
	signIn(t, ctx, h.url, "vera", "correct horse battery")
	run(t, ctx, "viewer: open the locations", chromedp.Navigate(h.url+"/locations"))
	run(t, ctx, "viewer: wait for the list", chromedp.WaitVisible(chromedp.CSS(`#locations tr[data-location="warung-kopi"]`)))
	if n := value(t, ctx, "viewer: count the buttons", chromedp.Evaluate[int](`document.querySelectorAll('#locations .sessions, #locations .test, #locations .edit, #router-fields').length`)); n != 0 {
		t.Errorf("a viewer sees %d router buttons or fields; want none", n)
	}

	ctx = browser(t)
	signIn(t, ctx, h.url, "olga", "correct horse battery")
	run(t, ctx, "open the locations", chromedp.Navigate(h.url+"/locations"))
	click(t, ctx, "open online now", `#locations tr[data-location="warung-kopi"] a.sessions`)
	run(t, ctx, "wait for the sessions", chromedp.WaitVisible(chromedp.CSS(`#sessions-table tr[data-user="alice"]`)))
	if n := value(t, ctx, "count the admin's buttons", chromedp.Evaluate[int](`document.querySelectorAll('#router-fields, .edit').length`)); n != 0 {
		t.Errorf("an operator sees %d admin fields or buttons", n)
	}
	rows := value(t, ctx, "read the rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#sessions-table tbody tr')].map(r => [...r.cells].slice(0, 7).map(c => c.textContent.trim()).join('|'))`))
	want := []string{
		"alice|Hotspot|10.5.50.12|AA:BB:CC:00:11:22|1 h 2 min|1.5 KiB|50.0 MiB",
		"budi|Hotspot|10.5.50.13|AA:BB:CC:00:11:23|1 d 2 h 3 min|3.0 GiB|700 B",
		"citra|PPP|10.9.0.7||0 min 45 s|2.0 MiB|5.0 MiB",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("the table:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if got := value(t, ctx, "read the reload", chromedp.Evaluate[string](`document.querySelector('#sessions').getAttribute('hx-trigger')`)); got != "every 10s" {
		t.Errorf("the table reloads %q; want every 10s", got)
	}
	screenshot(t, ctx, "sessions")

	// The reloads stop after their bound, with a refresh button.
	stopped := value(t, ctx, "ask for the last reload", chromedp.Evaluate[string](fmt.Sprintf(`(() => { const x = new XMLHttpRequest(); x.open('GET', '/locations/%d/sessions?poll=60', false); x.setRequestHeader('HX-Request', 'true'); x.send(); return x.responseText })()`, loc.ID)))
	if strings.Contains(stopped, "hx-trigger") || !strings.Contains(stopped, "refresh") || strings.Contains(stopped, "<nav") {
		t.Errorf("the 61st reload: %s; want the table alone, not reloading, with a refresh button", stopped)
	}

	click(t, ctx, "disconnect alice", `#sessions-table tr[data-user="alice"] button.disconnect`)
	run(t, ctx, "wait for the notice", chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := text(t, ctx, ".notice"); !strings.Contains(got, "alice") {
		t.Errorf("the notice says %q", got)
	}
	if got := rt.left(); strings.Join(got, ",") != "budi,citra" {
		t.Errorf("on the router after the disconnect: %v", got)
	}
	if n := value(t, ctx, "count alice's rows", chromedp.Evaluate[int](`document.querySelectorAll('#sessions-table tr[data-user="alice"]').length`)); n != 0 {
		t.Error("alice is still listed")
	}

	// In Bahasa Indonesia: the decimal comma and the words for time.
	run(t, ctx, "ask for Indonesian", chromedp.Evaluate[chromedp.Void](`document.cookie = 'mikrobill_lang=id; path=/'`))
	run(t, ctx, "reload", chromedp.Navigate(fmt.Sprintf("%s/locations/%d/sessions", h.url, loc.ID)))
	run(t, ctx, "wait for budi", chromedp.WaitVisible(chromedp.CSS(`#sessions-table tr[data-user="budi"]`)))
	if got := text(t, ctx, `#sessions-table tr[data-user="budi"]`); !strings.Contains(got, "1 hari 2 jam 3 menit") || !strings.Contains(got, "3,0 GiB") {
		t.Errorf("budi's row in Indonesian: %q", got)
	}
	screenshot(t, ctx, "sessions-id")
}
