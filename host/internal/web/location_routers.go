package web

// A location's router: its connection in the location's record (POST and
// PUT /locations carry it as "router"; admins only, as it holds the
// router's password, which is write-only), the connection test, and who
// is online with the disconnect button.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// routerCallTimeout bounds one call to a router plugin from a request
// (the plugin bounds each command on its own too).
const routerCallTimeout = 30 * time.Second

// routerInput is a location's "router" in POST and PUT /locations.
type routerInput struct {
	Address    string `json:"address"`
	Port       int    `json:"port"`
	TLS        bool   `json:"tls"`
	CAPEM      string `json:"ca_pem"`
	CertSHA256 string `json:"cert_sha256"`
	ServerName string `json:"server_name"`
	Username   string `json:"username"`
	// Password nil keeps the stored one (write-only: it is never shown);
	// "" stores none.
	Password *string `json:"password"`
}

// routerJSON is a location's router as the API shows it: everything but
// the password.
type routerJSON struct {
	Address     string    `json:"address"`
	Port        int       `json:"port"`
	TLS         bool      `json:"tls"`
	CAPEM       string    `json:"ca_pem"`
	CertSHA256  string    `json:"cert_sha256"`
	ServerName  string    `json:"server_name"`
	Username    string    `json:"username"`
	PasswordSet bool      `json:"password_set"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// locationJSON is a location as the API shows it: its router is null when
// the router plugin's own settings hold its connection (or none does).
type locationJSON struct {
	store.Location
	Router *routerJSON `json:"router"`
	// Warnings are the router plugin's, when the router changed.
	Warnings []string `json:"warnings,omitempty"`
}

func routerView(c *store.RouterConnection) *routerJSON {
	if c == nil {
		return nil
	}
	return &routerJSON{Address: c.Address, Port: c.Port, TLS: c.TLS, CAPEM: c.CAPEM, CertSHA256: c.CertSHA256,
		ServerName: c.ServerName, Username: c.Username, PasswordSet: c.HasPassword, UpdatedAt: c.UpdatedAt}
}

// normalize trims and fills in the defaults the router plugin would.
func (in *routerInput) normalize() {
	in.Address = strings.TrimSpace(in.Address)
	in.Address = strings.TrimSuffix(strings.TrimPrefix(in.Address, "["), "]")
	in.Username = strings.TrimSpace(in.Username)
	if in.Username == "" {
		in.Username = "admin"
	}
	in.CertSHA256 = strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(in.CertSHA256)))
	in.ServerName = strings.TrimSpace(in.ServerName)
}

// validate checks a normalized router as the router plugin will; the
// fields are named "router.address" and so on.
func (in *routerInput) validate(v *validation) {
	switch {
	case in.Address == "":
		v.check(false, "router.address", `required: the router's IP address or host name, for example "192.168.88.1"`)
	case len(in.Address) > 253 || strings.ContainsAny(in.Address, "/ \t\r\n\x00"):
		v.check(false, "router.address", "must be an IP address or host name")
	case net.ParseIP(in.Address) == nil && strings.Contains(in.Address, ":"):
		if h, p, err := net.SplitHostPort(in.Address); err == nil {
			v.check(false, "router.address", fmt.Sprintf("must not include a port; put %s in port and %q in address", p, h))
		} else {
			v.check(false, "router.address", "must be an IP address or host name")
		}
	}
	v.check(in.Port >= 0 && in.Port <= 65535, "router.port", "must be 1 to 65535, or 0 for the default (8728, or 8729 with TLS)")
	v.check(textOK(in.Username, 100, false), "router.username", "at most 100 characters on one line")
	if in.Password != nil {
		v.check(textOK(*in.Password, 200, false), "router.password", "at most 200 characters on one line")
	}
	if !in.TLS {
		for field, val := range map[string]string{"router.ca_pem": in.CAPEM, "router.cert_sha256": in.CertSHA256, "router.server_name": in.ServerName} {
			v.check(val == "", field, "only with TLS; set tls to true (and enable api-ssl on the router) or leave it empty")
		}
		return
	}
	if in.CertSHA256 != "" {
		b, err := hex.DecodeString(in.CertSHA256)
		v.check(err == nil && len(b) == 32, "router.cert_sha256", "must be 64 hex digits: the SHA-256 fingerprint of the router's certificate")
	}
	if in.CAPEM != "" {
		v.check(pemHoldsCert(in.CAPEM), "router.ca_pem", "must hold PEM certificates (-----BEGIN CERTIFICATE-----)")
	}
	v.check(textOK(in.ServerName, 253, false), "router.server_name", "must be a host name")
}

func pemHoldsCert(text string) bool {
	rest := []byte(text)
	found := false
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return found
		}
		if b.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(b.Bytes); err != nil {
				return false
			}
			found = true
		}
	}
}

// connection is the store's record of in for a location, with prev's
// password kept when in sends none.
func (in *routerInput) connection(locationID int64, prev *store.RouterConnection) *store.RouterConnection {
	c := &store.RouterConnection{LocationID: locationID, Address: in.Address, Port: in.Port, TLS: in.TLS, CAPEM: in.CAPEM,
		CertSHA256: in.CertSHA256, ServerName: in.ServerName, Username: in.Username}
	switch {
	case in.Password != nil:
		c.Password = *in.Password
	case prev != nil:
		c.Password = prev.Password
	}
	c.HasPassword = c.Password != ""
	return c
}

// routerField is the "router" member of a location's body: absent (keep
// the stored one), null (remove it) or an object.
type routerField struct {
	Sent  bool
	Input *routerInput
}

func (f *routerField) UnmarshalJSON(b []byte) error {
	f.Sent = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.Input = nil
		return nil
	}
	f.Input = &routerInput{}
	return json.Unmarshal(b, f.Input)
}

// checkRouterRole refuses a change of a router's connection to a caller
// who is not an admin: it holds the router's password and reconfigures
// the router plugin, as a plugin settings save does (admins only).
func checkRouterRole(r *http.Request, f routerField) error {
	if !f.Sent {
		return nil
	}
	if p := PrincipalFrom(r.Context()); p == nil || !RoleAtLeast(p.Role, RoleAdmin) {
		return &apiError{http.StatusForbidden, "forbidden", "setting or removing a location's router needs the admin role (it holds the router's password); leave \"router\" out to change the rest", nil}
	}
	return nil
}

// routerChangeFor is the router change of location l (its plugin was
// oldPlugin) getting conn (nil: none). No change of routers: ok false.
func routerChangeFor(l *store.Location, oldPlugin string, had bool, conn *store.RouterConnection) (routerChange, bool) {
	if !had && conn == nil {
		return routerChange{}, false
	}
	plugins := []string{l.Plugin}
	if oldPlugin != "" && oldPlugin != l.Plugin && had {
		plugins = append(plugins, oldPlugin)
	}
	return routerChange{plugins: plugins, candidate: func(plugin string, now []store.RouterConnection) []store.RouterConnection {
		var out []store.RouterConnection
		for _, c := range now {
			if c.LocationID != l.ID || l.ID == 0 {
				out = append(out, c)
			}
		}
		if conn != nil && plugin == l.Plugin {
			c := *conn
			c.LocationName, c.Plugin = l.Name, l.Plugin
			out = append(out, c)
		}
		return out
	}}, true
}

// locationViews shows locations with their routers.
func (s *Server) locationViews(ctx context.Context, locs []store.Location) ([]locationJSON, error) {
	conns, err := s.catalogQ().RouterConnections(ctx, "", nil)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*store.RouterConnection{}
	for i := range conns {
		byID[conns[i].LocationID] = &conns[i]
	}
	out := make([]locationJSON, 0, len(locs))
	for _, l := range locs {
		out = append(out, locationJSON{Location: l, Router: routerView(byID[l.ID])})
	}
	return out, nil
}

// locationByVar reads the location named by the {id} path variable.
func (s *Server) locationByVar(r *http.Request) (*store.Location, error) {
	id, err := idVar(r, "id")
	if err != nil {
		return nil, err
	}
	return s.catalogQ().GetLocation(r.Context(), id)
}

// testLocationRouter is POST /locations/{id}/test: the router plugin
// connects to the location's router and answers GetResources; the answer
// says what failed (billing.RouterTestResult), with 200 either way.
func (s *Server) testLocationRouter(w http.ResponseWriter, r *http.Request) error {
	l, err := s.locationByVar(r)
	if err != nil {
		return err
	}
	res, err := s.testRouter(r, l)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// testRouter runs the connection test (the API's and the UI's).
func (s *Server) testRouter(r *http.Request, l *store.Location) (*billing.RouterTestResult, error) {
	ctx, cancel := context.WithTimeout(r.Context(), routerCallTimeout)
	defer cancel()
	res, err := s.deps.Billing.TestRouter(ctx, l)
	if err != nil {
		return nil, err
	}
	s.log.Info("router connection tested", "location", l.Name, "ok", res.OK, "failure", res.Failure, "by", actor(r))
	return res, nil
}

// activeSessionJSON is one active session as the API shows it.
type activeSessionJSON struct {
	ID string `json:"id"`
	// Service is "hotspot" or "ppp".
	Service       string `json:"service"`
	User          string `json:"user"`
	Address       string `json:"address"`
	MACAddress    string `json:"mac_address"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	BytesIn       uint64 `json:"bytes_in"`
	BytesOut      uint64 `json:"bytes_out"`
	CallerID      string `json:"caller_id,omitempty"`
	Server        string `json:"server,omitempty"`
}

func activeSessionView(x router.Session) activeSessionJSON {
	return activeSessionJSON{ID: x.ID, Service: string(x.Kind), User: x.User, Address: x.Address, MACAddress: x.MACAddress,
		UptimeSeconds: int64(x.Uptime / time.Second), BytesIn: x.BytesIn, BytesOut: x.BytesOut, CallerID: x.CallerID, Server: x.Server}
}

// listLocationSessions is GET /locations/{id}/sessions: who is online.
func (s *Server) listLocationSessions(w http.ResponseWriter, r *http.Request) error {
	l, err := s.locationByVar(r)
	if err != nil {
		return err
	}
	sessions, err := s.locationSessions(r, l)
	if err != nil {
		return err
	}
	items := make([]activeSessionJSON, 0, len(sessions))
	for _, x := range sessions {
		items = append(items, activeSessionView(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"location": l.Name, "items": items, "total": len(items)})
	return nil
}

// locationSessions lists a location's sessions (the API's and the UI's).
func (s *Server) locationSessions(r *http.Request, l *store.Location) ([]router.Session, error) {
	ctx, cancel := context.WithTimeout(r.Context(), routerCallTimeout)
	defer cancel()
	return s.deps.Billing.LocationSessions(ctx, l)
}

// disconnectBody is POST /locations/{id}/sessions/{sid}/disconnect's body.
type disconnectBody struct {
	// Service is the session's: "hotspot" or "ppp" (the router numbers
	// each menu's sessions on its own).
	Service string `json:"service"`
	// User, optional, is recorded in the audit log.
	User string `json:"user"`
}

// disconnectLocationSession ends one session; operators may (it is the
// everyday cure for a stuck login, and the customer can log in again at
// once), and it is audited.
func (s *Server) disconnectLocationSession(w http.ResponseWriter, r *http.Request) error {
	l, err := s.locationByVar(r)
	if err != nil {
		return err
	}
	var body disconnectBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	n, err := s.disconnectSession(r, l, mux.Vars(r)["sid"], body.Service, body.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"disconnected": n})
	return nil
}

// disconnectSession checks and ends one session (the API's and the UI's).
func (s *Server) disconnectSession(r *http.Request, l *store.Location, sid, service, user string) (int, error) {
	var v validation
	v.check(service == string(router.KindHotspot) || service == string(router.KindPPP), "service", `must be "hotspot" or "ppp": the session's service`)
	v.check(sid != "" && len(sid) <= 64 && !strings.ContainsAny(sid, " \t\r\n\x00=/"), "sid", `must be the router's id of the session, such as "*1A"`)
	v.check(textOK(user, 200, false), "user", "at most 200 characters on one line")
	if err := v.err(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), routerCallTimeout)
	defer cancel()
	n, err := s.deps.Billing.DisconnectSession(ctx, l, router.UserKind(service), sid, user, actor(r))
	if err != nil {
		return 0, err
	}
	s.log.Info("session disconnected", "location", l.Name, "service", service, "session", sid, "disconnected", n, "by", actor(r))
	return n, nil
}
