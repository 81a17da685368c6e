package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// The fakes below stand for real plugins: the test serves them with sdktest,
// so billing reaches them over real gRPC exactly as it reaches plugins.

// fakeGateway is the host's test gateway (testutil.Gateway, "payment-fake")
// with the behaviour below. It keeps its replay records in the host's
// durable store the way a real gateway does: "event:<event id>" -> the
// payment id, set if absent. A repeat about the same payment comes back as
// a Duplicate event (without a status query), an id used for another
// payment is payment.ErrReplay.
type fakeGateway struct {
	testutil.Gateway
	mu       sync.Mutex
	payments map[string]*payment.Payment // by gateway id
	// statusOverride, when set, is what the status query reports (GetPayment,
	// and a notification's event unless parseOnly).
	statusOverride payment.Status
	// amountOverride, when set, is what the status query reports.
	amountOverride int64
	// parseOnly makes the fake a plugin that only parses notifications: its
	// events say what the notification says, unconfirmed, and the host
	// confirms them with GetPayment. Otherwise the fake confirms a
	// notification itself, as plugins built on sdk/payment/gateway do, and
	// its event reports what its status query says.
	parseOnly bool
	// oldContract answers every repeat with payment.ErrReplay, as plugins
	// built before payment.Event.Duplicate do.
	oldContract bool
	// getErr, when set, is what GetPayment answers.
	getErr error
	// gets counts GetPayment calls.
	gets atomic.Int64
}

func newFakeGateway() *fakeGateway {
	g := &fakeGateway{payments: map[string]*payment.Payment{}}
	g.CreatePaymentFunc, g.GetPaymentFunc, g.HandleWebhookFunc = g.createPayment, g.getPayment, g.handleWebhook
	return g
}

func (g *fakeGateway) createPayment(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := "PAY-" + req.OrderID
	p := &payment.Payment{ID: id, OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount,
		CheckoutURL: "https://pay.example/" + id, Raw: []byte(`{"created":true}`)}
	g.payments[id] = p
	return &payment.CreatePaymentResponse{Payment: *p}, nil
}

func (g *fakeGateway) getPayment(_ context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	g.gets.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.getErr != nil {
		return nil, g.getErr
	}
	p, ok := g.payments[req.ID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", payment.ErrUnknownOrder, req.ID)
	}
	out := *p
	if g.statusOverride != "" {
		out.Status = g.statusOverride
	}
	if g.amountOverride != 0 {
		out.Amount.Amount = g.amountOverride
	}
	return &payment.GetPaymentResponse{Payment: out}, nil
}

// notification is the fake gateway's webhook body. EventID defaults to
// "<payment id>-<status>".
type notification struct {
	EventID   string `json:"event_id,omitempty"`
	PaymentID string `json:"payment_id"`
	Status    string `json:"status"`
}

func (g *fakeGateway) handleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	if req.Request.Header.Get("X-Fake-Signature") != "ok" {
		return nil, payment.ErrInvalidSignature
	}
	var n notification
	if err := json.Unmarshal(req.Request.Body, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", payment.ErrMalformedPayload, err)
	}
	if n.EventID == "" {
		n.EventID = n.PaymentID + "-" + n.Status
	}
	g.mu.Lock()
	p, ok := g.payments[n.PaymentID]
	var cp payment.Payment
	if ok {
		cp = *p
	}
	old := g.oldContract
	g.mu.Unlock()
	if !ok {
		return nil, payment.ErrUnknownOrder
	}
	ev := &payment.Event{EventID: n.EventID, PaymentID: cp.ID, OrderID: cp.OrderID,
		Status: payment.Status(n.Status), Amount: cp.Amount, Raw: req.Request.Body}
	resp := &payment.WebhookResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Body: []byte("OK")}, Event: ev}
	stored, err := g.Host().StoreSet(ctx, "event:"+n.EventID, []byte(cp.ID), sdk.StoreSetOptions{OnlyIfAbsent: true})
	if err != nil {
		return nil, err
	}
	if !stored {
		prev, _, err := g.Host().StoreGet(ctx, "event:"+n.EventID)
		switch {
		case err != nil:
			return nil, err
		case string(prev) != cp.ID:
			return nil, fmt.Errorf("%w: notification %s was about payment %s, this one names %s", payment.ErrReplay, n.EventID, prev, cp.ID)
		case old:
			return nil, fmt.Errorf("%w: notification %s", payment.ErrReplay, n.EventID)
		}
		ev.Duplicate = true // no status query: that is the work the record saves
		return resp, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n.Status == "paid" {
		p.Status = payment.StatusPaid
	}
	if g.parseOnly {
		return resp, nil
	}
	// The status query, as a confirming plugin makes it.
	if g.statusOverride != "" {
		ev.Status = g.statusOverride
	}
	if g.amountOverride != 0 {
		ev.Amount.Amount = g.amountOverride
	}
	ev.Confirmed = true
	return resp, nil
}

type routerUser struct {
	router.User
	location string
}

type fakeRouter struct {
	sdk.Base
	mu       sync.Mutex
	users    map[string]*routerUser // location/name
	profiles map[string]router.Profile
	// down makes this many calls fail as if the router were unreachable.
	down         atomic.Int64
	disconnected []string
	calls        atomic.Int64
	sessions     []routerSession
}

func (r *fakeRouter) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "mikrotik", Version: "1.0.0"}, nil
}

func (r *fakeRouter) unreachable() error {
	r.calls.Add(1)
	if r.down.Load() > 0 {
		r.down.Add(-1)
		return fmt.Errorf("%w: router does not answer", router.ErrRouterUnreachable)
	}
	return nil
}

func (r *fakeRouter) user(loc, name string) (routerUser, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[loc+"/"+name]
	if !ok {
		return routerUser{}, false
	}
	return *u, true
}

func (r *fakeRouter) ListLocations(context.Context, *router.ListLocationsRequest) (*router.ListLocationsResponse, error) {
	return &router.ListLocationsResponse{}, nil
}
func (r *fakeRouter) GetResources(context.Context, *router.GetResourcesRequest) (*router.GetResourcesResponse, error) {
	return &router.GetResourcesResponse{}, nil
}
func (r *fakeRouter) EnsureProfile(_ context.Context, req *router.EnsureProfileRequest) (*router.EnsureProfileResponse, error) {
	if err := r.unreachable(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.profiles[req.Location+"/"+req.Profile.Name] = req.Profile
	return &router.EnsureProfileResponse{Profile: req.Profile, Changed: true}, nil
}
func (r *fakeRouter) ListProfiles(context.Context, *router.ListProfilesRequest) (*router.ListProfilesResponse, error) {
	return &router.ListProfilesResponse{}, nil
}
func (r *fakeRouter) RemoveProfile(context.Context, *router.RemoveProfileRequest) (*router.RemoveProfileResponse, error) {
	return &router.RemoveProfileResponse{}, nil
}
func (r *fakeRouter) UpsertUser(_ context.Context, req *router.UpsertUserRequest) (*router.UpsertUserResponse, error) {
	if err := r.unreachable(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users[req.Location+"/"+req.User.Name] = &routerUser{User: req.User, location: req.Location}
	return &router.UpsertUserResponse{User: req.User, Changed: true}, nil
}
func (r *fakeRouter) GetUser(context.Context, *router.GetUserRequest) (*router.GetUserResponse, error) {
	return nil, sdk.ErrNotSupported
}

// ListUsers lists the users of a location and kind; all are managed (the
// fake holds only what billing or a test put there as mikrobill's).
func (r *fakeRouter) ListUsers(_ context.Context, req *router.ListUsersRequest) (*router.ListUsersResponse, error) {
	if err := r.unreachable(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &router.ListUsersResponse{}
	for _, u := range r.users {
		if u.location == req.Location && u.Kind == req.Kind {
			out := u.User
			out.Password, out.Managed = "", true
			resp.Users = append(resp.Users, out)
		}
	}
	return resp, nil
}

// addManaged puts logins on the router as if mikrobill had made them.
func (r *fakeRouter) addManaged(loc string, kind router.UserKind, names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		r.users[loc+"/"+n] = &routerUser{User: router.User{Kind: kind, Name: n, Profile: "mb-home-10m"}, location: loc}
	}
}

// clear removes every login.
func (r *fakeRouter) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = map[string]*routerUser{}
}

// names lists the logins on the router at a location.
func (r *fakeRouter) names(loc string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, u := range r.users {
		if u.location == loc {
			out = append(out, u.Name)
		}
	}
	slices.Sort(out)
	return out
}
func (r *fakeRouter) EnableUser(context.Context, *router.EnableUserRequest) (*router.EnableUserResponse, error) {
	return &router.EnableUserResponse{}, nil
}
func (r *fakeRouter) DisableUser(context.Context, *router.DisableUserRequest) (*router.DisableUserResponse, error) {
	return &router.DisableUserResponse{}, nil
}
func (r *fakeRouter) RemoveUser(_ context.Context, req *router.RemoveUserRequest) (*router.RemoveUserResponse, error) {
	if err := r.unreachable(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.users, req.User.Location+"/"+req.User.Name)
	if req.Disconnect {
		r.disconnected = append(r.disconnected, req.User.Name)
	}
	return &router.RemoveUserResponse{Removed: true, Disconnected: 1}, nil
}
func (r *fakeRouter) IsolateUser(_ context.Context, req *router.IsolateUserRequest) (*router.IsolateUserResponse, error) {
	if err := r.unreachable(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[req.User.Location+"/"+req.User.Name]
	if !ok {
		return nil, sdk.ErrNotFound
	}
	u.Profile = req.IsolationProfile
	if req.Disconnect {
		r.disconnected = append(r.disconnected, req.User.Name)
	}
	return &router.IsolateUserResponse{Changed: true, Disconnected: 1}, nil
}
func (r *fakeRouter) ListActiveSessions(_ context.Context, req *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	if err := r.unreachable(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &router.ListActiveSessionsResponse{}
	for _, s := range r.sessions {
		if s.location == req.Location && (req.Kind == "" || s.Kind == req.Kind) && (req.User == "" || s.User == req.User) {
			resp.Sessions = append(resp.Sessions, s.Session)
		}
	}
	return resp, nil
}

// login puts an active session on the router, as a user logging in to
// the hotspot does; up is how long ago.
func (r *fakeRouter) login(loc, user string, up time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions = append(r.sessions, routerSession{location: loc, Session: router.Session{
		ID: fmt.Sprintf("*%d", len(r.sessions)+1), Kind: router.KindHotspot, User: user, Address: "10.5.50.9", Uptime: up}})
}

type routerSession struct {
	router.Session
	location string
}

func (r *fakeRouter) DisconnectSession(context.Context, *router.DisconnectSessionRequest) (*router.DisconnectSessionResponse, error) {
	return &router.DisconnectSessionResponse{}, nil
}

type sentMessage struct {
	to, text, key string
	// location is SendRequest.Location: the customer's location.
	location    string
	attachments []notify.Attachment
}

type fakeNotifier struct {
	sdk.Base
	mu   sync.Mutex
	sent []sentMessage
	keys map[string]bool
}

func (n *fakeNotifier) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "whatsapp", Version: "1.0.0"}, nil
}
func (n *fakeNotifier) ListSessions(context.Context, *notify.ListSessionsRequest) (*notify.ListSessionsResponse, error) {
	return &notify.ListSessionsResponse{}, nil
}
func (n *fakeNotifier) GetSession(context.Context, *notify.GetSessionRequest) (*notify.GetSessionResponse, error) {
	return nil, sdk.ErrNotFound
}
func (n *fakeNotifier) StartPairing(context.Context, *notify.StartPairingRequest) (*notify.StartPairingResponse, error) {
	return nil, sdk.ErrNotSupported
}
func (n *fakeNotifier) Logout(context.Context, *notify.LogoutRequest) (*notify.LogoutResponse, error) {
	return &notify.LogoutResponse{}, nil
}
func (n *fakeNotifier) Send(_ context.Context, req *notify.SendRequest) (*notify.SendResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.keys[req.IdempotencyKey] {
		return &notify.SendResponse{MessageID: req.IdempotencyKey, Status: notify.DeliveryStatusQueued, Duplicate: true}, nil
	}
	n.keys[req.IdempotencyKey] = true
	n.sent = append(n.sent, sentMessage{to: req.To, text: req.Text, key: req.IdempotencyKey, location: req.Location, attachments: req.Attachments})
	return &notify.SendResponse{MessageID: req.IdempotencyKey, Status: notify.DeliveryStatusSent}, nil
}
func (n *fakeNotifier) GetDeliveryStatus(context.Context, *notify.GetDeliveryStatusRequest) (*notify.GetDeliveryStatusResponse, error) {
	return nil, sdk.ErrNotSupported
}

func (n *fakeNotifier) messages() []sentMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sentMessage(nil), n.sent...)
}

type fakeAudit struct {
	sdk.Base
	mu     sync.Mutex
	events []audit.Event
}

func (a *fakeAudit) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "audit", Version: "1.0.0"}, nil
}
func (a *fakeAudit) Append(_ context.Context, req *audit.AppendRequest) (*audit.AppendResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, req.Events...)
	return &audit.AppendResponse{Appended: len(req.Events)}, nil
}
func (a *fakeAudit) Query(context.Context, *audit.QueryRequest) (*audit.QueryResponse, error) {
	return &audit.QueryResponse{}, nil
}
func (a *fakeAudit) Verify(context.Context, *audit.VerifyRequest) (*audit.VerifyResponse, error) {
	return &audit.VerifyResponse{OK: true}, nil
}
func (a *fakeAudit) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		out = append(out, e.Action)
	}
	return out
}
