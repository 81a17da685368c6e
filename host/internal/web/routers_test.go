package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// leftoverRouter is a router plugin that holds logins mikrobill made for a
// store the host no longer uses.
type leftoverRouter struct {
	sdk.Base
	mu     sync.Mutex
	logins map[string]bool
}

func (r *leftoverRouter) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "mikrotik", Version: "1.0.0"}, nil
}
func (r *leftoverRouter) ListLocations(context.Context, *router.ListLocationsRequest) (*router.ListLocationsResponse, error) {
	return &router.ListLocationsResponse{}, nil
}
func (r *leftoverRouter) GetResources(context.Context, *router.GetResourcesRequest) (*router.GetResourcesResponse, error) {
	return &router.GetResourcesResponse{}, nil
}
func (r *leftoverRouter) EnsureProfile(_ context.Context, req *router.EnsureProfileRequest) (*router.EnsureProfileResponse, error) {
	return &router.EnsureProfileResponse{Profile: req.Profile}, nil
}
func (r *leftoverRouter) ListProfiles(context.Context, *router.ListProfilesRequest) (*router.ListProfilesResponse, error) {
	return &router.ListProfilesResponse{}, nil
}
func (r *leftoverRouter) RemoveProfile(context.Context, *router.RemoveProfileRequest) (*router.RemoveProfileResponse, error) {
	return &router.RemoveProfileResponse{}, nil
}
func (r *leftoverRouter) UpsertUser(_ context.Context, req *router.UpsertUserRequest) (*router.UpsertUserResponse, error) {
	return &router.UpsertUserResponse{User: req.User}, nil
}
func (r *leftoverRouter) GetUser(context.Context, *router.GetUserRequest) (*router.GetUserResponse, error) {
	return nil, sdk.ErrNotSupported
}
func (r *leftoverRouter) ListUsers(_ context.Context, req *router.ListUsersRequest) (*router.ListUsersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &router.ListUsersResponse{}
	if req.Kind == router.KindPPP {
		for name := range r.logins {
			resp.Users = append(resp.Users, router.User{Kind: router.KindPPP, Name: name, Profile: "mb-home-10m", Managed: true})
		}
	}
	return resp, nil
}
func (r *leftoverRouter) EnableUser(context.Context, *router.EnableUserRequest) (*router.EnableUserResponse, error) {
	return &router.EnableUserResponse{}, nil
}
func (r *leftoverRouter) DisableUser(context.Context, *router.DisableUserRequest) (*router.DisableUserResponse, error) {
	return &router.DisableUserResponse{}, nil
}
func (r *leftoverRouter) RemoveUser(_ context.Context, req *router.RemoveUserRequest) (*router.RemoveUserResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.logins, req.User.Name)
	return &router.RemoveUserResponse{Removed: true}, nil
}
func (r *leftoverRouter) IsolateUser(context.Context, *router.IsolateUserRequest) (*router.IsolateUserResponse, error) {
	return &router.IsolateUserResponse{}, nil
}
func (r *leftoverRouter) ListActiveSessions(context.Context, *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	return &router.ListActiveSessionsResponse{}, nil
}
func (r *leftoverRouter) DisconnectSession(context.Context, *router.DisconnectSessionRequest) (*router.DisconnectSessionResponse, error) {
	return &router.DisconnectSessionResponse{}, nil
}

func (r *leftoverRouter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.logins)
}

// TestRouterRepairAPIGuardsRemovals: POST /routers/sync refuses a repair
// that would remove the logins of a location whose store side is empty
// (409 removals_not_allowed, the plan in details, nothing removed), and
// carries it out with "allow_removals" covering them.
func TestRouterRepairAPIGuardsRemovals(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	rt := &leftoverRouter{logins: map[string]bool{}}
	for i := range 12 {
		rt.logins[fmt.Sprintf("cust-%02d", i)] = true
	}
	svc, err := billing.NewWithQueue(db, nil, testutil.Plugins{Routers: map[string]router.Router{"mikrotik": sdktest.Serve(t, rt).Router()}}, billing.Config{}, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthAPI(t, db, func(d *Deps) { d.Billing = svc })
	adm := a.user("boss", "correct horse battery", store.UserRoleAdmin)
	tok, _, err := auth.CreateToken(ctx, db, adm.ID, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Q().CreateLocation(ctx, &store.Location{Name: "main"}); err != nil {
		t.Fatal(err)
	}

	for _, body := range []any{nil, map[string]any{"allow_removals": 11}} {
		r := a.do(http.MethodPost, "/api/v1/routers/sync", body, withBearer(tok))
		var e struct {
			Error struct {
				Code    string             `json:"code"`
				Message string             `json:"message"`
				Details billing.SyncReport `json:"details"`
			} `json:"error"`
		}
		r.json(t, &e)
		if r.Status != http.StatusConflict || e.Error.Code != "removals_not_allowed" || !strings.Contains(e.Error.Message, `"allow_removals": 12`) {
			t.Errorf("repair with %v: %d %s; want 409 removals_not_allowed saying to allow 12", body, r.Status, r.Body)
		}
		if p := e.Error.Details; p.Removals != 12 || p.Repaired != 0 || len(p.Locations) != 1 || len(p.Locations[0].Drift) != 12 {
			t.Errorf("the plan in details: %+v", p)
		}
		if n := rt.count(); n != 12 {
			t.Fatalf("a refused repair removed logins: %d left of 12", n)
		}
	}
	if r := a.do(http.MethodPost, "/api/v1/routers/sync", map[string]any{"allow_removals": -1}, withBearer(tok)); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("allow_removals -1: %d %s", r.Status, r.Body)
	}
	r := a.do(http.MethodPost, "/api/v1/routers/sync", map[string]any{"allow_removals": 12}, withBearer(tok))
	var rep billing.SyncReport
	if err := json.Unmarshal(r.Body, &rep); err != nil || r.Status != http.StatusOK || rep.Repaired != 12 || rt.count() != 0 {
		t.Errorf("repair allowing 12 removals: %d %s; %d logins left", r.Status, r.Body, rt.count())
	}
}
