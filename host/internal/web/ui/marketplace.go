package ui

// The Marketplace page: every source's plugins beside what is installed
// (its version and the previous one kept for a rollback); admins install,
// upgrade, roll back and remove with the code of POST
// /api/v1/plugins/{install,upgrade,rollback,remove}, and follow each
// action's progress live (htmx reloads its panel every second while it
// runs); operators and viewers browse. A refusal shows next to the action.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// Marketplace is what the page works with: the API's functions
// (host/internal/web/plugin_install.go).
type Marketplace struct {
	// List searches every source for text, beside what is installed.
	List func(ctx context.Context, text string) pluginstall.Market
	// Start checks and starts an action for the request's user; a refusal
	// is an error wrapping one of pluginstall's.
	Start func(r *http.Request, req pluginstall.Request) (pluginstall.Action, error)
	// Get returns an action by id; Recent the latest, newest first.
	Get    func(id string) (pluginstall.Action, bool)
	Recent func() []pluginstall.Action
}

// marketData is the page's.
type marketData struct {
	Query   string
	Market  pluginstall.Market
	Actions []actionView
	// Refused is the plugin whose action was refused, and why.
	Refused, Refusal string
}

// actionView is an action as its panel shows it.
type actionView struct {
	pluginstall.Action
	Running bool
	// Percent of the bytes fetched, 0 to 100 (-1: unknown).
	Percent int
	DoneMB  string
	TotalMB string
}

func viewAction(a pluginstall.Action) actionView {
	v := actionView{Action: a, Running: a.State == pluginstall.StateRunning, Percent: -1,
		DoneMB: fmt.Sprintf("%.1f", float64(a.Done)/(1<<20)), TotalMB: fmt.Sprintf("%.1f", float64(a.Total)/(1<<20))}
	if a.Total > 0 {
		v.Percent = int(a.Done * 100 / a.Total)
	}
	return v
}

// MarketplacePage serves GET /marketplace.
func (u *UI) MarketplacePage(w http.ResponseWriter, r *http.Request) error {
	return u.marketplace(w, r, http.StatusOK, "", "")
}

func (u *UI) marketplace(w http.ResponseWriter, r *http.Request, status int, refused, refusal string) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if refused != "" {
		q = strings.TrimSpace(r.PostFormValue("q"))
	}
	d := marketData{Query: q, Market: u.deps.Marketplace.List(r.Context(), q), Refused: refused, Refusal: refusal}
	if userFrom(r).Can("admin") {
		for _, a := range u.deps.Marketplace.Recent() {
			if len(d.Actions) == 5 {
				break
			}
			d.Actions = append(d.Actions, viewAction(a))
		}
	}
	return u.render(w, r, status, "marketplace.html", view{Title: "market.title", Data: d})
}

// MarketplaceAction serves POST /marketplace/{action}: it starts the
// action and goes back to the page, which shows its progress; a refusal
// is shown next to the plugin's actions.
func (u *UI) MarketplaceAction(w http.ResponseWriter, r *http.Request) error {
	action := mux.Vars(r)["action"]
	req := pluginstall.Request{Action: action, Name: r.PostFormValue("name"),
		Force: r.PostFormValue("force") == "on", PurgeData: r.PostFormValue("purge_data") == "on"}
	if offer := r.PostFormValue("offer"); offer != "" {
		req.Version, req.Source, _ = strings.Cut(offer, "|")
	}
	if _, err := u.deps.Marketplace.Start(r, req); err != nil {
		if isRefusal(err) {
			return u.marketplace(w, r, http.StatusUnprocessableEntity, req.Name, err.Error())
		}
		return err
	}
	redirect(w, r, "/marketplace")
	return nil
}

// isRefusal reports whether err is the installer's refusal of a request
// (shown on the page) rather than a failure of the host.
func isRefusal(err error) bool {
	for _, e := range []error{pluginstall.ErrRefused, pluginstall.ErrState, pluginstall.ErrBusy, pluginstall.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// MarketplaceActionStatus serves GET /marketplace/actions/{id}: one
// action's panel, which htmx reloads while it runs.
func (u *UI) MarketplaceActionStatus(w http.ResponseWriter, r *http.Request) error {
	a, ok := u.deps.Marketplace.Get(mux.Vars(r)["id"])
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	return u.renderPart(w, r, http.StatusOK, "marketplace.html", "action_part", view{Data: viewAction(a)})
}
