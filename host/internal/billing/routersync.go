package billing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// Drift problems: how a router differs from the store.
const (
	// DriftMissing: the subscriber should have a login and has none.
	DriftMissing = "missing"
	// DriftProfile: the login has another profile than the plan's (or
	// the isolation profile, for an isolated subscription).
	DriftProfile = "profile"
	// DriftDisabled: the login of an active subscription is disabled.
	DriftDisabled = "disabled"
	// DriftOrphan: a login mikrobill created that no active or isolated
	// subscription (nor hotspot voucher) of the location accounts for.
	DriftOrphan = "orphan"
	// DriftNotManaged: the subscriber's login name is taken by an entry
	// mikrobill did not create. Never repaired: a person must look.
	DriftNotManaged = "not_managed"
)

// SafeRemovals is how many logins a repair removes without being told it
// may (SyncOptions.AllowRemovals): a handful of subscribers who left is
// usual; dozens of orphans mean the store is most likely the wrong one.
const SafeRemovals = 5

// SyncOptions choose what SyncRouters compares and whether it repairs.
type SyncOptions struct {
	// Location limits the comparison to one location (by name); empty is
	// every location.
	Location string
	// Repair makes each router match the store; otherwise it only
	// reports.
	Repair bool
	// AllowRemovals is how many logins the repair may remove from the
	// routers. Without it (0) the repair removes up to SafeRemovals, and
	// none at a location whose store side is empty (no subscriber should
	// have a login there: after a switch to a fresh database every paying
	// customer's login looks orphaned). A repair that would remove more is
	// refused whole (ErrRemovalsNotAllowed) and changes nothing.
	AllowRemovals int
	// Actor is who asked, for the audit log.
	Actor string
}

// SyncReport is what SyncRouters found, per location.
type SyncReport struct {
	Repair    bool            `json:"repair"`
	Locations []LocationDrift `json:"locations"`
	// Drift counts the differences found, Repaired those repaired.
	Drift    int `json:"drift"`
	Repaired int `json:"repaired"`
	// Unreachable counts the locations that could not be compared.
	Unreachable int `json:"unreachable"`
	// Removals counts the orphans a repair removes (or would remove) from
	// the routers.
	Removals int `json:"removals"`
	// Refused says why a repair changed nothing because of its removals
	// (ErrRemovalsNotAllowed); the report is then its plan.
	Refused string `json:"refused,omitempty"`
}

// LocationDrift is one location's comparison.
type LocationDrift struct {
	Location string `json:"location"`
	Plugin   string `json:"plugin"`
	// Compared reports whether the router answered; Error says why not.
	Compared bool   `json:"compared"`
	Error    string `json:"error,omitempty"`
	// Subscribers is how many subscriptions should have a login there.
	Subscribers int     `json:"subscribers"`
	Drift       []Drift `json:"drift"`
}

// Drift is one difference.
type Drift struct {
	Problem        string `json:"problem"`
	Kind           string `json:"kind"`
	User           string `json:"user"`
	CustomerID     int64  `json:"customer_id,omitempty"`
	SubscriptionID int64  `json:"subscription_id,omitempty"`
	// Want and Have are the profiles, for DriftProfile.
	Want string `json:"want,omitempty"`
	Have string `json:"have,omitempty"`
	// Detail says it in a sentence.
	Detail string `json:"detail"`
	// Repaired reports the repair; RepairError why it failed.
	Repaired    bool   `json:"repaired"`
	RepairError string `json:"repair_error,omitempty"`
}

// Errors of SyncRouters.
var (
	// ErrUnknownLocation: SyncOptions.Location names no location.
	ErrUnknownLocation = errors.New("no such location")
	// ErrRemovalsNotAllowed: the repair would remove more logins than it
	// may (SyncOptions.AllowRemovals); nothing was changed, and the report
	// that comes with the error is the plan.
	ErrRemovalsNotAllowed = errors.New("the repair would remove more router logins than allowed")
)

// SyncRouters compares what the store says each location's router should
// hold (a login with the plan's profile for every active subscription, the
// isolation profile for an isolated one) with what the router holds, and
// repairs the differences when asked. Entries mikrobill did not create are
// reported when they take a subscriber's name and are never changed.
//
// A repair first compares every location (the plan), then checks the
// removals it plans against SyncOptions.AllowRemovals: a plan that removes
// too many is refused with the report (nothing repaired) and an error
// wrapping ErrRemovalsNotAllowed; otherwise the plan is carried out.
func (s *Service) SyncRouters(ctx context.Context, opt SyncOptions) (*SyncReport, error) {
	q := s.st.Q()
	var locs []store.Location
	if opt.Location != "" {
		l, err := q.GetLocationByName(ctx, opt.Location)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: no location is named %q; GET /api/v1/locations lists them", ErrUnknownLocation, opt.Location)
		}
		if err != nil {
			return nil, err
		}
		locs = append(locs, *l)
	} else {
		for page := (store.Page{Limit: 100}); ; page.Offset += page.Limit {
			batch, total, err := q.ListLocations(ctx, page)
			if err != nil {
				return nil, err
			}
			locs = append(locs, batch...)
			if len(batch) == 0 || page.Offset+len(batch) >= total {
				break
			}
		}
	}
	rep := &SyncReport{Repair: opt.Repair, Locations: []LocationDrift{}}
	plans := make([]locationPlan, 0, len(locs))
	for _, l := range locs {
		ld, plan := s.compareLocation(ctx, l)
		rep.Drift += len(ld.Drift)
		if !ld.Compared {
			rep.Unreachable++
		}
		for _, d := range ld.Drift {
			if d.Problem == DriftOrphan {
				rep.Removals++
			}
		}
		rep.Locations = append(rep.Locations, ld)
		plans = append(plans, plan)
	}
	if !opt.Repair {
		return rep, nil
	}
	if why := removalsRefused(rep, opt.AllowRemovals); why != "" {
		rep.Refused = why
		s.log.Warn("router repair refused", "removals", rep.Removals, "allow_removals", opt.AllowRemovals, "why", why)
		return rep, fmt.Errorf("%w: %s", ErrRemovalsNotAllowed, why)
	}
	for i := range rep.Locations {
		s.carryOut(ctx, &rep.Locations[i], plans[i])
		for _, d := range rep.Locations[i].Drift {
			if d.Repaired {
				rep.Repaired++
			}
		}
	}
	if rep.Repaired > 0 {
		actor := opt.Actor
		if actor == "" {
			actor = "system"
		}
		if _, err := s.queue.Insert(ctx, auditJob(AuditEvent{Actor: actor, Action: "routers.repaired", ResourceType: "router_location", ResourceID: opt.Location,
			Metadata: map[string]string{"drift": strconv.Itoa(rep.Drift), "repaired": strconv.Itoa(rep.Repaired)}}, s.now()), nil); err != nil {
			return rep, fmt.Errorf("record the repair in the audit log: %w", err)
		}
	}
	return rep, nil
}

// expected is what one subscriber's login should be.
type expected struct {
	svc      store.SubscriptionView
	profile  string // the plan's or, isolated, the isolation profile
	isolated bool
}

// fix is how a repair puts one difference right: provision the expected
// login again (missing, profile, disabled), or remove an orphan. Neither
// for an entry mikrobill did not create.
type fix struct {
	provision *expected
	remove    *router.UserRef
}

// locationPlan is how a repair would put one location right: a fix for
// each of its differences, in order.
type locationPlan struct {
	rt    router.Router
	fixes []fix
}

// removalsRefused says why the repair may not remove the orphans of rep,
// or "" when it may: up to SafeRemovals, none at a location whose store
// side is empty, unless allow covers them all.
func removalsRefused(rep *SyncReport, allow int) string {
	if rep.Removals == 0 || rep.Removals <= allow {
		return ""
	}
	var empty []string
	for _, ld := range rep.Locations {
		if ld.Subscribers > 0 {
			continue
		}
		for _, d := range ld.Drift {
			if d.Problem == DriftOrphan {
				empty = append(empty, ld.Location)
				break
			}
		}
	}
	what := fmt.Sprintf("it would remove %d login(s) from the routers", rep.Removals)
	switch {
	case len(empty) > 0:
		what += fmt.Sprintf(", some at %s, where the store has no subscriber at all", strings.Join(empty, ", "))
	case rep.Removals > SafeRemovals:
		what += fmt.Sprintf(", more than the %d a repair removes unasked", SafeRemovals)
	default:
		return ""
	}
	if allow > 0 {
		what += fmt.Sprintf(", and only %d are allowed", allow)
	}
	return what + fmt.Sprintf("; nothing was changed. Check the plan and that the host uses the right database (after a switch to a fresh one every paying customer's login looks orphaned); "+
		"to remove them all, repair again allowing %d removals (mikrobill routers sync --repair --allow-removals %d; API: \"allow_removals\": %d)", rep.Removals, rep.Removals, rep.Removals)
}

// compareLocation compares one location's router with the store and plans
// the repair; it changes nothing.
func (s *Service) compareLocation(ctx context.Context, l store.Location) (LocationDrift, locationPlan) {
	ld := LocationDrift{Location: l.Name, Plugin: l.Plugin, Drift: []Drift{}}
	var plan locationPlan
	fail := func(err error) (LocationDrift, locationPlan) {
		ld.Compared, ld.Error, ld.Drift = false, err.Error(), []Drift{}
		return ld, locationPlan{}
	}
	q := s.st.Q()
	svcs, err := q.ListLocationSubscriptionViews(ctx, l.ID)
	if err != nil {
		return fail(err)
	}
	logins, err := q.LocationLogins(ctx, l.ID)
	if err != nil {
		return fail(err)
	}
	// Hotspot vouchers are logins too, with no subscription: never
	// strays (hotspot.go keeps them).
	vouchers, err := q.ListVoucherLoginsAt(ctx, l.ID, store.LoginPending, store.LoginReady, store.LoginActive, store.LoginExpired)
	if err != nil {
		return fail(err)
	}
	voucherLogins := make(map[string]bool, len(vouchers))
	for _, v := range vouchers {
		voucherLogins[v.Code] = true
	}
	// One login per customer: an active subscription wins over an
	// isolated one; among equals the newest.
	want := map[router.UserKind]map[string]expected{router.KindHotspot: {}, router.KindPPP: {}}
	for _, svc := range svcs {
		kind := userKind(svc.Plan)
		e := expected{svc: svc, profile: profileName(svc.Plan)}
		if svc.Status == store.SubscriptionIsolated {
			if svc.Plan.IsolationProfile == "" {
				continue // expired into removal; nothing should be there
			}
			e.profile, e.isolated = svc.Plan.IsolationProfile, true
		}
		if prev, ok := want[kind][svc.RouterUsername]; ok && !prev.isolated && e.isolated {
			continue
		}
		want[kind][svc.RouterUsername] = e
	}
	ld.Subscribers = len(want[router.KindHotspot]) + len(want[router.KindPPP])
	rt, err := s.plugins.Router(l.Plugin)
	if err != nil {
		return fail(err)
	}
	plan.rt = rt
	for _, kind := range []router.UserKind{router.KindHotspot, router.KindPPP} {
		res, err := rt.ListUsers(ctx, &router.ListUsersRequest{Location: l.Name, Kind: kind})
		if err != nil {
			return fail(fmt.Errorf("list %s users on %s: %w", kind, l.Name, err))
		}
		have := map[string]router.User{}
		for _, u := range res.Users {
			have[u.Name] = u
		}
		for _, name := range slices.Sorted(maps.Keys(want[kind])) {
			e := want[kind][name]
			d := Drift{Kind: string(kind), User: name, CustomerID: e.svc.CustomerID, SubscriptionID: e.svc.SubscriptionID}
			u, ok := have[name]
			switch {
			case !ok:
				d.Problem, d.Want = DriftMissing, e.profile
				d.Detail = fmt.Sprintf("customer %d (%s) has an %s subscription on plan %q but no %s login on the router", e.svc.CustomerID, e.svc.CustomerName, e.svc.Status, e.svc.Plan.Name, kind)
			case !u.Managed:
				d.Problem = DriftNotManaged
				d.Detail = fmt.Sprintf("the router's %s entry %q was not created by mikrobill, so it is left alone; rename customer %d's router login or remove that entry on the router", kind, name, e.svc.CustomerID)
			case u.Profile != e.profile:
				d.Problem, d.Want, d.Have = DriftProfile, e.profile, u.Profile
				d.Detail = fmt.Sprintf("login %q has profile %q; the %s subscription wants %q", name, u.Profile, e.svc.Status, e.profile)
			case u.Disabled && !e.isolated:
				d.Problem = DriftDisabled
				d.Detail = fmt.Sprintf("login %q is disabled although the subscription is active", name)
			default:
				continue
			}
			var f fix
			if d.Problem != DriftNotManaged {
				f.provision = &e
			}
			ld.Drift = append(ld.Drift, d)
			plan.fixes = append(plan.fixes, f)
		}
		for _, u := range res.Users {
			if !u.Managed {
				continue
			}
			if _, ok := want[kind][u.Name]; ok {
				continue
			}
			if kind == router.KindHotspot && voucherLogins[u.Name] {
				continue
			}
			d := Drift{Problem: DriftOrphan, Kind: string(kind), User: u.Name, CustomerID: logins[u.Name], Have: u.Profile}
			if d.CustomerID != 0 {
				d.Detail = fmt.Sprintf("login %q (customer %d) has no active or isolated %s subscription; repairing removes it from the router", u.Name, d.CustomerID, kind)
			} else {
				d.Detail = fmt.Sprintf("login %q was created by mikrobill but no customer of location %s has it; repairing removes it from the router", u.Name, l.Name)
			}
			ld.Drift = append(ld.Drift, d)
			plan.fixes = append(plan.fixes, fix{remove: &router.UserRef{Location: l.Name, Kind: kind, Name: u.Name}})
		}
	}
	ld.Compared = true
	if n := len(ld.Drift); n > 0 {
		s.log.Info("router drift", "location", l.Name, "differences", n)
	}
	return ld, plan
}

// carryOut repairs one location as planned, recording each outcome in its
// difference.
func (s *Service) carryOut(ctx context.Context, ld *LocationDrift, plan locationPlan) {
	for i, f := range plan.fixes {
		d := &ld.Drift[i]
		switch {
		case f.provision != nil:
			s.repair(ctx, plan.rt, *f.provision, d)
		case f.remove != nil:
			_, err := plan.rt.RemoveUser(ctx, &router.RemoveUserRequest{User: *f.remove, Disconnect: true})
			if err != nil && !errors.Is(err, sdk.ErrNotFound) {
				d.RepairError = err.Error()
			} else {
				d.Repaired = true
			}
		}
	}
	if n := len(ld.Drift); n > 0 {
		s.log.Info("router drift repaired", "location", ld.Location, "differences", n)
	}
}

// repair puts one subscriber's login right (the upsert also enables a
// disabled one), and ends their sessions when their profile changed so the
// new one takes effect.
func (s *Service) repair(ctx context.Context, rt router.Router, e expected, d *Drift) {
	profile := ""
	if e.isolated {
		profile = e.profile
	}
	if _, err := s.provision(ctx, rt, &e.svc, profile); err != nil {
		d.RepairError = err.Error()
		return
	}
	if d.Problem == DriftProfile {
		if _, err := rt.DisconnectSession(ctx, &router.DisconnectSessionRequest{Location: e.svc.LocationName, Kind: userKind(e.svc.Plan), User: e.svc.RouterUsername}); err != nil {
			d.RepairError = "the profile is repaired, but the active session was not ended: " + err.Error()
			return
		}
	}
	d.Repaired = true
}

// DriftSummary is a report in a line, for logs and the command.
func (r *SyncReport) DriftSummary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d location(s), %d difference(s)", len(r.Locations), r.Drift)
	switch {
	case r.Refused != "":
		b.WriteString(", repair refused: nothing changed")
	case r.Repair:
		fmt.Fprintf(&b, ", %d repaired", r.Repaired)
	}
	if r.Removals > 0 {
		fmt.Fprintf(&b, ", %d login(s) to remove", r.Removals)
	}
	if r.Unreachable > 0 {
		fmt.Fprintf(&b, ", %d not compared", r.Unreachable)
	}
	return b.String()
}
