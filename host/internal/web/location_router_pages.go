package web

// The admin UI's location router pages (package ui: location_routers.go)
// reach the host through ui.LocationRouters, made here of the API's own
// functions (location_routers.go, locations.go): the same checks, the
// same audit events, the same router plugin calls.

import (
	"context"
	"errors"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// locationRouterPages is ui.LocationRouters over the server.
func (s *Server) locationRouterPages() *ui.LocationRouters {
	return &ui.LocationRouters{
		Location: func(ctx context.Context, id int64) (*store.Location, error) { return s.catalogQ().GetLocation(ctx, id) },
		Connections: func(ctx context.Context) (map[int64]store.RouterConnection, error) {
			conns, err := s.catalogQ().RouterConnections(ctx, "", nil)
			if err != nil {
				return nil, err
			}
			out := make(map[int64]store.RouterConnection, len(conns))
			for _, c := range conns {
				out[c.LocationID] = c
			}
			return out, nil
		},
		Save: func(r *http.Request, l *store.Location, rf *ui.RouterForm) error {
			in := locationInput{Name: l.Name, Description: l.Description, Plugin: l.Plugin}
			if rf != nil {
				in.Router.Sent = true
				if !rf.Remove {
					in.Router.Input = &routerInput{Address: rf.Address, Port: rf.Port, TLS: rf.TLS, CAPEM: rf.CAPEM, CertSHA256: rf.CertSHA256,
						ServerName: rf.ServerName, Username: rf.Username, Password: rf.Password}
				}
			}
			var err error
			if l.ID == 0 {
				_, err = s.addLocation(r, l, &in)
			} else {
				_, err = s.changeLocation(r, l, &in)
			}
			return pageRefusal(err)
		},
		Delete: func(r *http.Request, id int64) error {
			err := s.removeLocation(r, id)
			if errors.Is(err, store.ErrReferenced) || isAPIError(err, "in_use") {
				return store.ErrReferenced
			}
			return err
		},
		Test: func(r *http.Request, l *store.Location) (*billing.RouterTestResult, error) { return s.testRouter(r, l) },
		Sessions: func(r *http.Request, l *store.Location) ([]router.Session, error) {
			return s.locationSessions(r, l)
		},
		Disconnect: func(r *http.Request, l *store.Location, sid, service, user string) (int, error) {
			return s.disconnectSession(r, l, sid, service, user)
		},
	}
}

// isAPIError reports whether err is an API answer with this code.
func isAPIError(err error, code string) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.code == code
}
