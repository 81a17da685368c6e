package cli

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

// TestRouterAsLocation is a router added through the API end to end, with
// the real mikrotik plugin and a fake router speaking the RouterOS API:
// the location's router reaches the plugin (no JSON array edited), the
// connection test passes and, with a wrong password, says the login
// failed; the router's active sessions are listed, and a disconnect
// removes one from the router.
func TestRouterAsLocation(t *testing.T) {
	rt := routertest.Start(t, routertest.Options{Username: "billing", Password: "router-pass-42"})
	d := testenv.NewPluginDir(t)
	d.AddBundled("mikrotik")
	h := startHost(t, d.Dir)
	tok := h.adminToken()

	conn := func(password string) map[string]any {
		return map[string]any{"address": "127.0.0.1", "port": rt.Port(), "username": "billing", "password": password}
	}
	var loc struct {
		ID     int64 `json:"id"`
		Router struct {
			Address     string `json:"address"`
			PasswordSet bool   `json:"password_set"`
		} `json:"router"`
	}
	code, raw := h.api(http.MethodPost, "/api/v1/locations", tok, map[string]any{"name": "main", "description": "Head office", "router": conn("router-pass-42")}, &loc)
	if code != http.StatusCreated || !loc.Router.PasswordSet || strings.Contains(string(raw), "router-pass-42") {
		t.Fatalf("add the router: %d %s", code, raw)
	}
	base := fmt.Sprintf("/api/v1/locations/%d", loc.ID)

	// The plugin knows the router: the test connects and logs in.
	var res billing.RouterTestResult
	if code, raw := h.api(http.MethodPost, base+"/test", tok, nil, &res); code != http.StatusOK || !res.OK || res.Resources == nil || res.Resources.Version == "" {
		t.Fatalf("test the connection: %d %s", code, raw)
	}
	if rt.Logins() == 0 {
		t.Error("the fake router saw no login")
	}
	// The plugin's settings, as the API shows them: the router, its
	// password redacted.
	if code, raw := h.api(http.MethodGet, "/api/v1/plugin-settings/mikrotik", tok, nil, nil); code != http.StatusOK ||
		!strings.Contains(string(raw), `"id": "main"`) || strings.Contains(string(raw), "router-pass-42") {
		t.Errorf("mikrotik's settings: %d %s", code, raw)
	}

	// A wrong password: the test says the login failed.
	if code, raw := h.api(http.MethodPut, base, tok, map[string]any{"router": conn("wrong-password")}, nil); code != http.StatusOK {
		t.Fatalf("change the password: %d %s", code, raw)
	}
	if code, raw := h.api(http.MethodPost, base+"/test", tok, nil, &res); code != http.StatusOK || res.OK || res.Failure != billing.TestFailLogin ||
		!strings.Contains(res.Message, "login") || strings.Contains(res.Message, "wrong-password") {
		t.Errorf("test with a wrong password: %d %s; want failure login", code, raw)
	}
	// Nothing listening: refused.
	if code, raw := h.api(http.MethodPut, base, tok, map[string]any{"router": map[string]any{"address": "127.0.0.1", "port": closedPort(t), "username": "billing"}}, nil); code != http.StatusOK {
		t.Fatalf("change the port: %d %s", code, raw)
	}
	if code, raw := h.api(http.MethodPost, base+"/test", tok, nil, &res); code != http.StatusOK || res.OK || res.Failure != billing.TestFailRefused {
		t.Errorf("test of a closed port: %d %s; want failure refused", code, raw)
	}
	if code, raw := h.api(http.MethodPut, base, tok, map[string]any{"router": conn("router-pass-42")}, nil); code != http.StatusOK {
		t.Fatalf("fix the router: %d %s", code, raw)
	}

	// Who is online, from the router.
	rt.Add("/ip/hotspot/active", map[string]string{"user": "budi", "address": "10.5.50.23", "mac-address": "AA:BB:CC:00:11:22",
		"server": "hotspot1", "uptime": "1h2m5s", "bytes-in": "1048576", "bytes-out": "52428800"})
	rt.Add("/ppp/active", map[string]string{"name": "citra", "address": "10.0.0.7", "caller-id": "AA:AA:AA:AA:AA:07", "service": "pppoe", "uptime": "5m"})
	var list struct {
		Total int `json:"total"`
		Items []struct {
			ID, Service, User, Address string
			MACAddress                 string `json:"mac_address"`
			UptimeSeconds              int64  `json:"uptime_seconds"`
			BytesIn                    uint64 `json:"bytes_in"`
			BytesOut                   uint64 `json:"bytes_out"`
		} `json:"items"`
	}
	if code, raw := h.api(http.MethodGet, base+"/sessions", tok, nil, &list); code != http.StatusOK || list.Total != 2 {
		t.Fatalf("sessions: %d %s", code, raw)
	}
	budi := list.Items[0]
	if budi.User != "budi" || budi.Service != "hotspot" || budi.Address != "10.5.50.23" || budi.MACAddress != "AA:BB:CC:00:11:22" ||
		budi.UptimeSeconds != int64((time.Hour+2*time.Minute+5*time.Second)/time.Second) || budi.BytesIn != 1048576 || budi.BytesOut != 52428800 {
		t.Errorf("budi's session: %+v", budi)
	}
	if list.Items[1].User != "citra" || list.Items[1].Service != "ppp" {
		t.Errorf("citra's session: %+v", list.Items[1])
	}

	// The disconnect ends it on the router.
	if code, raw := h.api(http.MethodPost, base+"/sessions/"+budi.ID+"/disconnect", tok, map[string]any{"service": "hotspot", "user": "budi"}, nil); code != http.StatusOK || !strings.Contains(string(raw), `"disconnected": 1`) {
		t.Fatalf("disconnect: %d %s", code, raw)
	}
	if rows := rt.Rows("/ip/hotspot/active"); len(rows) != 0 {
		t.Errorf("the router still has hotspot sessions: %v", rows)
	}
	if rows := rt.Rows("/ppp/active"); len(rows) != 1 {
		t.Errorf("the PPP session went too: %v", rows)
	}

	// Removing the router: the plugin forgets the location.
	if code, raw := h.api(http.MethodPut, base, tok, map[string]any{"router": nil}, nil); code != http.StatusOK {
		t.Fatalf("remove the router: %d %s", code, raw)
	}
	if code, raw := h.api(http.MethodPost, base+"/test", tok, nil, &res); code != http.StatusOK || res.OK || res.Failure != billing.TestFailNotAdded {
		t.Errorf("test after removing the router: %d %s; want failure not_added", code, raw)
	}
}

// closedPort is a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
