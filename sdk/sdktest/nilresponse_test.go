package sdktest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// nilPlugin answers every method of the base service, and of the optional
// EventHandler and HTTPHandler, with neither a response nor an error.
type nilPlugin struct{}

func (nilPlugin) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return nil, nil
}

func (nilPlugin) Configure(context.Context, *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	return nil, nil
}

func (nilPlugin) CheckHealth(context.Context, *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	return nil, nil
}

func (nilPlugin) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	return nil, nil
}

func (nilPlugin) HandleEvent(context.Context, *sdk.HandleEventRequest) (*sdk.HandleEventResponse, error) {
	return nil, nil
}

func (nilPlugin) HandleHTTP(context.Context, *sdk.HandleHTTPRequest) (*sdk.HandleHTTPResponse, error) {
	return nil, nil
}

// nilGateway is a payment gateway, with both optional methods, that
// answers nil.
type nilGateway struct{ nilPlugin }

func (nilGateway) CreatePayment(context.Context, *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	return nil, nil
}

func (nilGateway) GetPayment(context.Context, *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	return nil, nil
}

func (nilGateway) HandleWebhook(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	return nil, nil
}

func (nilGateway) Refund(context.Context, *payment.RefundRequest) (*payment.RefundResponse, error) {
	return nil, nil
}

func (nilGateway) ListMethods(context.Context, *payment.ListMethodsRequest) (*payment.ListMethodsResponse, error) {
	return nil, nil
}

// nilRouter is a router plugin that answers nil.
type nilRouter struct{ nilPlugin }

func (nilRouter) ListLocations(context.Context, *router.ListLocationsRequest) (*router.ListLocationsResponse, error) {
	return nil, nil
}

func (nilRouter) GetResources(context.Context, *router.GetResourcesRequest) (*router.GetResourcesResponse, error) {
	return nil, nil
}

func (nilRouter) EnsureProfile(context.Context, *router.EnsureProfileRequest) (*router.EnsureProfileResponse, error) {
	return nil, nil
}

func (nilRouter) ListProfiles(context.Context, *router.ListProfilesRequest) (*router.ListProfilesResponse, error) {
	return nil, nil
}

func (nilRouter) RemoveProfile(context.Context, *router.RemoveProfileRequest) (*router.RemoveProfileResponse, error) {
	return nil, nil
}

func (nilRouter) UpsertUser(context.Context, *router.UpsertUserRequest) (*router.UpsertUserResponse, error) {
	return nil, nil
}

func (nilRouter) GetUser(context.Context, *router.GetUserRequest) (*router.GetUserResponse, error) {
	return nil, nil
}

func (nilRouter) ListUsers(context.Context, *router.ListUsersRequest) (*router.ListUsersResponse, error) {
	return nil, nil
}

func (nilRouter) EnableUser(context.Context, *router.EnableUserRequest) (*router.EnableUserResponse, error) {
	return nil, nil
}

func (nilRouter) DisableUser(context.Context, *router.DisableUserRequest) (*router.DisableUserResponse, error) {
	return nil, nil
}

func (nilRouter) RemoveUser(context.Context, *router.RemoveUserRequest) (*router.RemoveUserResponse, error) {
	return nil, nil
}

func (nilRouter) IsolateUser(context.Context, *router.IsolateUserRequest) (*router.IsolateUserResponse, error) {
	return nil, nil
}

func (nilRouter) ListActiveSessions(context.Context, *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	return nil, nil
}

func (nilRouter) DisconnectSession(context.Context, *router.DisconnectSessionRequest) (*router.DisconnectSessionResponse, error) {
	return nil, nil
}

// nilNotifier is a notification plugin that answers nil.
type nilNotifier struct{ nilPlugin }

func (nilNotifier) ListSessions(context.Context, *notify.ListSessionsRequest) (*notify.ListSessionsResponse, error) {
	return nil, nil
}

func (nilNotifier) GetSession(context.Context, *notify.GetSessionRequest) (*notify.GetSessionResponse, error) {
	return nil, nil
}

func (nilNotifier) StartPairing(context.Context, *notify.StartPairingRequest) (*notify.StartPairingResponse, error) {
	return nil, nil
}

func (nilNotifier) Logout(context.Context, *notify.LogoutRequest) (*notify.LogoutResponse, error) {
	return nil, nil
}

func (nilNotifier) Send(context.Context, *notify.SendRequest) (*notify.SendResponse, error) {
	return nil, nil
}

func (nilNotifier) GetDeliveryStatus(context.Context, *notify.GetDeliveryStatusRequest) (*notify.GetDeliveryStatusResponse, error) {
	return nil, nil
}

// nilSink is an audit sink that answers nil.
type nilSink struct{ nilPlugin }

func (nilSink) Append(context.Context, *audit.AppendRequest) (*audit.AppendResponse, error) {
	return nil, nil
}

func (nilSink) Query(context.Context, *audit.QueryRequest) (*audit.QueryResponse, error) {
	return nil, nil
}

func (nilSink) Verify(context.Context, *audit.VerifyRequest) (*audit.VerifyResponse, error) {
	return nil, nil
}

// call is one method called through the host's client.
type call struct {
	method string
	do     func(ctx context.Context) error
}

// callOf makes a call that keeps only the error.
func callOf[R any](method string, f func(ctx context.Context) (R, error)) call {
	return call{method: method, do: func(ctx context.Context) error {
		_, err := f(ctx)
		return err
	}}
}

// baseCalls are the base service's methods, which every kind serves too.
func baseCalls(p client.Plugin) []call {
	return []call{
		callOf("Describe", func(ctx context.Context) (*sdk.DescribeResponse, error) {
			return p.Describe(ctx, &sdk.DescribeRequest{})
		}),
		callOf("Configure", func(ctx context.Context) (*sdk.ConfigureResponse, error) {
			return p.Configure(ctx, &sdk.ConfigureRequest{})
		}),
		callOf("CheckHealth", func(ctx context.Context) (*sdk.CheckHealthResponse, error) {
			return p.CheckHealth(ctx, &sdk.CheckHealthRequest{})
		}),
		callOf("CollectMetrics", func(ctx context.Context) (*sdk.CollectMetricsResponse, error) {
			return p.CollectMetrics(ctx, &sdk.CollectMetricsRequest{})
		}),
		callOf("HandleEvent", func(ctx context.Context) (*sdk.HandleEventResponse, error) {
			return p.HandleEvent(ctx, &sdk.HandleEventRequest{})
		}),
	}
}

// TestNilResponse shows the one rule for a nil response (package sdk's
// doc), kind by kind: an implementation that returns neither a response
// nor an error is a bug, and every method of every kind answers it with
// sdk.ErrInternal naming the method.
func TestNilResponse(t *testing.T) {
	tests := []struct {
		kind  string
		impl  sdk.Plugin
		calls func(h *sdktest.Harness) []call
	}{
		{kind: sdk.KindGeneric, impl: nilPlugin{}, calls: func(h *sdktest.Harness) []call {
			return baseCalls(h.Plugin())
		}},
		{kind: sdk.KindPayment, impl: nilGateway{}, calls: func(h *sdktest.Harness) []call {
			g := h.Payment()
			return append(baseCalls(h.Plugin()),
				callOf("CreatePayment", func(ctx context.Context) (*payment.CreatePaymentResponse, error) {
					return g.CreatePayment(ctx, &payment.CreatePaymentRequest{})
				}),
				callOf("GetPayment", func(ctx context.Context) (*payment.GetPaymentResponse, error) {
					return g.GetPayment(ctx, &payment.GetPaymentRequest{})
				}),
				callOf("HandleWebhook", func(ctx context.Context) (*payment.WebhookResponse, error) {
					return g.HandleWebhook(ctx, &payment.WebhookRequest{})
				}),
				callOf("Refund", func(ctx context.Context) (*payment.RefundResponse, error) {
					return g.(payment.Refunder).Refund(ctx, &payment.RefundRequest{})
				}),
				callOf("ListMethods", func(ctx context.Context) (*payment.ListMethodsResponse, error) {
					return g.(payment.MethodLister).ListMethods(ctx, &payment.ListMethodsRequest{})
				}),
			)
		}},
		{kind: sdk.KindRouter, impl: nilRouter{}, calls: func(h *sdktest.Harness) []call {
			r := h.Router()
			return append(baseCalls(h.Plugin()),
				callOf("ListLocations", func(ctx context.Context) (*router.ListLocationsResponse, error) {
					return r.ListLocations(ctx, &router.ListLocationsRequest{})
				}),
				callOf("GetResources", func(ctx context.Context) (*router.GetResourcesResponse, error) {
					return r.GetResources(ctx, &router.GetResourcesRequest{})
				}),
				callOf("EnsureProfile", func(ctx context.Context) (*router.EnsureProfileResponse, error) {
					return r.EnsureProfile(ctx, &router.EnsureProfileRequest{})
				}),
				callOf("ListProfiles", func(ctx context.Context) (*router.ListProfilesResponse, error) {
					return r.ListProfiles(ctx, &router.ListProfilesRequest{})
				}),
				callOf("RemoveProfile", func(ctx context.Context) (*router.RemoveProfileResponse, error) {
					return r.RemoveProfile(ctx, &router.RemoveProfileRequest{})
				}),
				callOf("UpsertUser", func(ctx context.Context) (*router.UpsertUserResponse, error) {
					return r.UpsertUser(ctx, &router.UpsertUserRequest{})
				}),
				callOf("GetUser", func(ctx context.Context) (*router.GetUserResponse, error) {
					return r.GetUser(ctx, &router.GetUserRequest{})
				}),
				callOf("ListUsers", func(ctx context.Context) (*router.ListUsersResponse, error) {
					return r.ListUsers(ctx, &router.ListUsersRequest{})
				}),
				callOf("EnableUser", func(ctx context.Context) (*router.EnableUserResponse, error) {
					return r.EnableUser(ctx, &router.EnableUserRequest{})
				}),
				callOf("DisableUser", func(ctx context.Context) (*router.DisableUserResponse, error) {
					return r.DisableUser(ctx, &router.DisableUserRequest{})
				}),
				callOf("RemoveUser", func(ctx context.Context) (*router.RemoveUserResponse, error) {
					return r.RemoveUser(ctx, &router.RemoveUserRequest{})
				}),
				callOf("IsolateUser", func(ctx context.Context) (*router.IsolateUserResponse, error) {
					return r.IsolateUser(ctx, &router.IsolateUserRequest{})
				}),
				callOf("ListActiveSessions", func(ctx context.Context) (*router.ListActiveSessionsResponse, error) {
					return r.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{})
				}),
				callOf("DisconnectSession", func(ctx context.Context) (*router.DisconnectSessionResponse, error) {
					return r.DisconnectSession(ctx, &router.DisconnectSessionRequest{})
				}),
			)
		}},
		{kind: sdk.KindNotify, impl: nilNotifier{}, calls: func(h *sdktest.Harness) []call {
			n := h.Notifier()
			return append(baseCalls(h.Plugin()),
				callOf("ListSessions", func(ctx context.Context) (*notify.ListSessionsResponse, error) {
					return n.ListSessions(ctx, &notify.ListSessionsRequest{})
				}),
				callOf("GetSession", func(ctx context.Context) (*notify.GetSessionResponse, error) {
					return n.GetSession(ctx, &notify.GetSessionRequest{})
				}),
				callOf("StartPairing", func(ctx context.Context) (*notify.StartPairingResponse, error) {
					return n.StartPairing(ctx, &notify.StartPairingRequest{})
				}),
				callOf("Logout", func(ctx context.Context) (*notify.LogoutResponse, error) {
					return n.Logout(ctx, &notify.LogoutRequest{})
				}),
				callOf("Send", func(ctx context.Context) (*notify.SendResponse, error) {
					return n.Send(ctx, &notify.SendRequest{})
				}),
				callOf("GetDeliveryStatus", func(ctx context.Context) (*notify.GetDeliveryStatusResponse, error) {
					return n.GetDeliveryStatus(ctx, &notify.GetDeliveryStatusRequest{})
				}),
			)
		}},
		{kind: sdk.KindAudit, impl: nilSink{}, calls: func(h *sdktest.Harness) []call {
			s := h.Audit()
			return append(baseCalls(h.Plugin()),
				callOf("Append", func(ctx context.Context) (*audit.AppendResponse, error) {
					return s.Append(ctx, &audit.AppendRequest{})
				}),
				callOf("Query", func(ctx context.Context) (*audit.QueryResponse, error) {
					return s.Query(ctx, &audit.QueryRequest{})
				}),
				callOf("Verify", func(ctx context.Context) (*audit.VerifyResponse, error) {
					return s.Verify(ctx, &audit.VerifyRequest{})
				}),
			)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			h := sdktest.Serve(t, tt.impl)
			for _, c := range tt.calls(h) {
				err := c.do(t.Context())
				want := c.method + " returned neither a response nor an error"
				if !errors.Is(err, sdk.ErrInternal) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s = %v; want sdk.ErrInternal with %q", c.method, err, want)
				}
			}

			// The one exception: a plugin route with nothing to say is a
			// 204 No Content.
			resp, err := h.Plugin().HandleHTTP(t.Context(), &sdk.HandleHTTPRequest{Route: "/nothing"})
			if err != nil || resp.Response.StatusCode != http.StatusNoContent {
				t.Errorf("HandleHTTP = %+v, %v; want 204 No Content", resp, err)
			}
		})
	}
}
