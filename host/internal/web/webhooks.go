package web

// The payment gateways' notifications, handed to their plugins.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// webhook hands the gateway's raw request to its payment plugin and writes
// the plugin's answer back.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["plugin"]
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req := sdk.HTTPRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body,
		RemoteAddr: r.RemoteAddr, Host: r.Host, ReceivedAt: time.Now(), RequestID: r.Header.Get("X-Request-ID"),
	}
	res, err := s.deps.Billing.HandleWebhook(r.Context(), name, req)
	switch {
	case errors.Is(err, billing.ErrNoPlugin):
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no payment plugin %q takes webhooks here", name), nil}
	case errors.Is(err, billing.ErrUnconfirmed):
		// The gateway will send it again; by then its status may agree.
		// (payment.ErrUnconfirmed from the plugin itself is the same error.)
		return &apiError{http.StatusConflict, "unconfirmed", err.Error(), nil}
	case errors.Is(err, payment.ErrReplay):
		// Never acknowledged: a notification id reused for another payment
		// pays nothing, and an old plugin's "seen before" may hide a credit
		// that failed here (billing has queued a check of the gateway).
		s.log.Warn("webhook refused as a replay", "plugin", name, "remote", r.RemoteAddr, "error", err)
		return &apiError{http.StatusConflict, "replay", err.Error() +
			"; nothing was credited for this notification (a notification id belongs to one payment: give another payment's notification an id of its own); the host is asking the gateway about its pending payments", nil}
	case err != nil:
		s.log.Warn("webhook refused", "plugin", name, "remote", r.RemoteAddr, "error", err)
		return err
	}
	// As for plugin routes: the host's security headers stay, cookies and
	// framing headers of the plugin go, and the status must be final.
	return writePluginResponse(w, name, res.Response)
}
