package billing

// A location's router, live: who is online (ListActiveSessions), ending a
// session (DisconnectSession) and testing the connection (GetResources),
// through the location's router plugin. The API (web/location_routers.go)
// and the admin UI's sessions page call these.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// Connection test failures: what RouterTest says went wrong.
const (
	TestFailDNS         = "dns"         // the router's host name does not resolve
	TestFailRefused     = "refused"     // nothing listens on the API port
	TestFailTimeout     = "timeout"     // no answer in time (firewall, wrong address)
	TestFailTLS         = "tls"         // the TLS handshake or the certificate check failed
	TestFailLogin       = "login"       // the router refused the username or password
	TestFailUnreachable = "unreachable" // another network failure
	TestFailNotAdded    = "not_added"   // the plugin does not know the location
	TestFailPlugin      = "plugin"      // the router plugin is not running or failed
)

// RouterTestResult is a connection test's outcome.
type RouterTestResult struct {
	OK bool `json:"ok"`
	// Failure is one of the TestFail* values when OK is false.
	Failure string `json:"failure,omitempty"`
	// Message is the router plugin's own words (never a password).
	Message string `json:"message,omitempty"`
	// Resources is what the router answered when OK.
	Resources *router.Resources `json:"resources,omitempty"`
}

// TestRouter asks a location's router plugin to connect to its router and
// answer GetResources, and says what failed when it cannot.
func (s *Service) TestRouter(ctx context.Context, l *store.Location) (*RouterTestResult, error) {
	rt, err := s.plugins.Router(l.Plugin)
	if err != nil {
		return &RouterTestResult{Failure: TestFailPlugin, Message: err.Error()}, nil
	}
	res, err := rt.GetResources(ctx, &router.GetResourcesRequest{Location: l.Name})
	if err != nil {
		return &RouterTestResult{Failure: ClassifyRouterError(err), Message: err.Error()}, nil
	}
	return &RouterTestResult{OK: true, Resources: &res.Resources}, nil
}

// ClassifyRouterError names what a router plugin's error says went wrong
// while reaching a router (one of the TestFail* values). It reads the
// words of the dialer, the TLS stack and the plugin's login refusal, which
// cross the plugin boundary as text.
func ClassifyRouterError(err error) string {
	msg := strings.ToLower(err.Error())
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(msg, w) })
	}
	switch {
	case errors.Is(err, sdk.ErrPluginUnavailable):
		return TestFailPlugin
	case errors.Is(err, router.ErrUnknownLocation) || has("unknown router location"):
		return TestFailNotAdded
	case has("login as", "invalid user name or password", "cannot log in"):
		return TestFailLogin
	case has("no such host", "server misbehaving", "lookup "):
		return TestFailDNS
	case has("connection refused"):
		return TestFailRefused
	case has("tls", "x509", "certificate"):
		return TestFailTLS
	case has("i/o timeout", "deadline exceeded", "timed out"):
		return TestFailTimeout
	case errors.Is(err, router.ErrRouterUnreachable), errors.Is(err, sdk.ErrUnavailable):
		return TestFailUnreachable
	}
	return TestFailPlugin
}

// LocationSessions lists who is online at a location: hotspot and PPP
// sessions, hotspot first, each by user.
func (s *Service) LocationSessions(ctx context.Context, l *store.Location) ([]router.Session, error) {
	rt, err := s.plugins.Router(l.Plugin)
	if err != nil {
		return nil, err
	}
	var out []router.Session
	for _, kind := range []router.UserKind{router.KindHotspot, router.KindPPP} {
		res, err := rt.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{Location: l.Name, Kind: kind})
		if err != nil {
			return nil, fmt.Errorf("list the %s sessions at %s: %w", kind, l.Name, err)
		}
		for _, sess := range res.Sessions {
			if sess.Kind == "" {
				sess.Kind = kind
			}
			out = append(out, sess)
		}
	}
	slices.SortStableFunc(out, func(a, b router.Session) int {
		if a.Kind != b.Kind {
			return strings.Compare(string(a.Kind), string(b.Kind))
		}
		return strings.Compare(a.User, b.User)
	})
	return out, nil
}

// DisconnectSession ends one session (kind and the router's session id)
// at a location and records who did it in the audit log. It returns how
// many sessions ended (0: it had ended already).
func (s *Service) DisconnectSession(ctx context.Context, l *store.Location, kind router.UserKind, id, user, actor string) (int, error) {
	rt, err := s.plugins.Router(l.Plugin)
	if err != nil {
		return 0, err
	}
	res, err := rt.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: l.Name, Kind: kind, SessionID: id})
	if err != nil {
		return 0, fmt.Errorf("disconnect %s session %s at %s: %w", kind, id, l.Name, err)
	}
	meta := map[string]string{"location": l.Name, "kind": string(kind), "session": id, "disconnected": fmt.Sprint(res.Disconnected)}
	if user != "" {
		meta["user"] = user
	}
	ev := AuditEvent{Action: "session.disconnected", ResourceType: "location", ResourceID: fmt.Sprint(l.ID), Actor: actor, Outcome: "success", Metadata: meta}
	if err := s.Audit(ctx, ev); err != nil {
		s.log.Error("session disconnect not audited", "location", l.Name, "session", id, "error", err)
	}
	return res.Disconnected, nil
}
