package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/internal/serveopt"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// waitTimeout bounds every wait on the plugin, so a hang fails the test
// instead of stalling it.
const waitTimeout = 10 * time.Second

// bare is the smallest plugin: Base and Describe, no optional capability.
type bare struct {
	sdk.Base
	desc sdk.DescribeResponse
}

func (p *bare) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	d := p.desc
	return &d, nil
}

// workbench is a generic plugin with every base capability. Its HTTP routes
// let a test drive what runs inside the plugin: the host's key-value store,
// publishing, panics and cancellation.
type workbench struct {
	sdk.Base

	mu       sync.Mutex
	settings workbenchSettings
	lastHTTP *sdk.HandleHTTPRequest
	events   []sdk.Event

	// waiting receives when /wait has started; waitErr receives the
	// plugin-side context's error when it ends.
	waiting chan struct{}
	waitErr chan error
}

type workbenchSettings struct {
	Greeting string `json:"greeting"`
	Retries  int    `json:"retries"`
}

func newWorkbench() *workbench {
	return &workbench{
		settings: workbenchSettings{Greeting: "hello", Retries: 3},
		waiting:  make(chan struct{}, 1),
		waitErr:  make(chan error, 1),
	}
}

var (
	_ sdk.EventHandler = (*workbench)(nil)
	_ sdk.HTTPHandler  = (*workbench)(nil)
	_ sdk.Shutdowner   = (*workbench)(nil)
)

func (p *workbench) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{
		Name:         "workbench",
		Version:      "1.2.3",
		Capabilities: []string{"zz-custom", sdk.CapabilityHTTP}, // http is detected too
		Description:  "test plugin",
	}, nil
}

func (p *workbench) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	s := workbenchSettings{Greeting: "hello", Retries: 3}
	if err := sdk.DecodeConfig(req.Settings, &s); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.settings = s
	p.mu.Unlock()
	return &sdk.ConfigureResponse{Warnings: []string{"greeting is " + s.Greeting}}, nil
}

func (p *workbench) HandleEvent(_ context.Context, req *sdk.HandleEventRequest) (*sdk.HandleEventResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, req.Event)
	return &sdk.HandleEventResponse{}, nil
}

func (p *workbench) Shutdown(context.Context) error { return nil }

// kvOp is the body of the /kv route.
type kvOp struct {
	Op           string        `json:"op"` // get, set, delete
	Key          string        `json:"key"`
	Value        []byte        `json:"value"`
	TTL          time.Duration `json:"ttl"`
	OnlyIfAbsent bool          `json:"only_if_absent"`
}

// kvResult is the answer of the /kv route.
type kvResult struct {
	Value []byte `json:"value"`
	// OK is found for get, stored for set, deleted for delete.
	OK bool `json:"ok"`
}

func (p *workbench) HandleHTTP(ctx context.Context, req *sdk.HandleHTTPRequest) (*sdk.HandleHTTPResponse, error) {
	switch req.Route {
	case "/echo/{id}", "/public":
		p.mu.Lock()
		p.lastHTTP = req
		p.mu.Unlock()
		return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{
			StatusCode: http.StatusCreated,
			Header:     http.Header{"X-Echo": {"one", "two"}, "Content-Type": {"text/plain"}},
			Body:       append([]byte("echo: "), req.Request.Body...),
		}}, nil
	case "/nothing":
		return nil, nil
	case "/kv":
		var op kvOp
		if err := json.Unmarshal(req.Request.Body, &op); err != nil {
			return nil, fmt.Errorf("%w: %v", sdk.ErrInvalidArgument, err)
		}
		var res kvResult
		var err error
		switch op.Op {
		case "get":
			res.Value, res.OK, err = p.Host().KVGet(ctx, op.Key)
		case "set":
			res.OK, err = p.Host().KVSet(ctx, op.Key, op.Value, sdk.KVSetOptions{TTL: op.TTL, OnlyIfAbsent: op.OnlyIfAbsent})
		case "delete":
			res.OK, err = p.Host().KVDelete(ctx, op.Key)
		default:
			return nil, fmt.Errorf("%w: op %q", sdk.ErrInvalidArgument, op.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("kv %s %q: %w", op.Op, op.Key, err)
		}
		body, _ := json.Marshal(res)
		return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Body: body}}, nil
	case "/publish":
		var ev sdk.Event
		if err := json.Unmarshal(req.Request.Body, &ev); err != nil {
			return nil, fmt.Errorf("%w: %v", sdk.ErrInvalidArgument, err)
		}
		id, err := p.Host().Publish(ctx, ev)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{StatusCode: http.StatusOK, Body: []byte(id)}}, nil
	case "/panic":
		panic("boom")
	case "/wait":
		p.waiting <- struct{}{}
		<-ctx.Done()
		p.waitErr <- ctx.Err()
		return nil, ctx.Err()
	default:
		return nil, fmt.Errorf("%w: route %s", sdk.ErrNotFound, req.Route)
	}
}

func (p *workbench) lastRequest() *sdk.HandleHTTPRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastHTTP
}

// gateway is a minimal payment gateway with a refund.
type gateway struct{ sdk.Base }

var (
	_ payment.Gateway  = (*gateway)(nil)
	_ payment.Refunder = (*gateway)(nil)
)

func (g *gateway) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "payment-test", Version: "0.0.1", Capabilities: []string{"webhook-v2"}}, nil
}

func (g *gateway) CreatePayment(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	return &payment.CreatePaymentResponse{Payment: payment.Payment{ID: "P1", OrderID: req.OrderID, Status: payment.StatusPending, Amount: req.Amount}}, nil
}

func (g *gateway) GetPayment(context.Context, *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	return nil, payment.ErrUnknownOrder
}

func (g *gateway) HandleWebhook(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	return nil, payment.ErrInvalidSignature
}

func (g *gateway) Refund(context.Context, *payment.RefundRequest) (*payment.RefundResponse, error) {
	return nil, payment.ErrDeclined
}

// twoKinds is a payment gateway and an audit sink at once: Serve refuses it.
type twoKinds struct{ gateway }

func (*twoKinds) Append(context.Context, *audit.AppendRequest) (*audit.AppendResponse, error) {
	return nil, nil
}

func (*twoKinds) Query(context.Context, *audit.QueryRequest) (*audit.QueryResponse, error) {
	return nil, nil
}

func (*twoKinds) Verify(context.Context, *audit.VerifyRequest) (*audit.VerifyResponse, error) {
	return nil, nil
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		impl sdk.Plugin
		want *sdk.DescribeResponse
	}{
		{
			name: "generic",
			impl: &bare{desc: sdk.DescribeResponse{Name: "bare", Version: "0.1.0"}},
			want: &sdk.DescribeResponse{Name: "bare", Version: "0.1.0", Kind: sdk.KindGeneric, SDKVersion: sdk.Version},
		},
		{
			name: "author's kind, capabilities and SDK version are kept",
			impl: &bare{desc: sdk.DescribeResponse{Name: "bare", Version: "0.1.0", Kind: "generic", Capabilities: []string{"b", "a"}, SDKVersion: "0.0.9", Description: "d"}},
			want: &sdk.DescribeResponse{Name: "bare", Version: "0.1.0", Kind: sdk.KindGeneric, Capabilities: []string{"a", "b"}, SDKVersion: "0.0.9", Description: "d"},
		},
		{
			name: "generic with every base capability",
			impl: newWorkbench(),
			want: &sdk.DescribeResponse{
				Name: "workbench", Version: "1.2.3", Kind: sdk.KindGeneric,
				Capabilities: []string{"events", "http", "shutdown", "zz-custom"},
				SDKVersion:   sdk.Version, Description: "test plugin",
			},
		},
		{
			name: "payment",
			impl: &gateway{},
			want: &sdk.DescribeResponse{
				Name: "payment-test", Version: "0.0.1", Kind: sdk.KindPayment,
				Capabilities: []string{"refund", "webhook-v2"}, SDKVersion: sdk.Version,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.Serve(t, tt.impl)
			got, err := h.Plugin().Describe(context.Background(), &sdk.DescribeRequest{HostVersion: "1.0.0"})
			if err != nil {
				t.Fatalf("Describe: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Describe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaseConfigure(t *testing.T) {
	h := sdktest.Serve(t, &bare{desc: sdk.DescribeResponse{Name: "bare"}})
	tests := []struct {
		name     string
		settings string
		wantErr  string
	}{
		{name: "none", settings: ""},
		{name: "null", settings: "null"},
		{name: "empty object", settings: "{}"},
		{name: "padded empty object", settings: " { }\n"},
		{name: "a setting", settings: `{"server_key":"x"}`,
			wantErr: "invalid argument: this plugin takes no settings; remove them from the plugin's config block"},
		{name: "an array", settings: `[]`,
			wantErr: "invalid argument: this plugin takes no settings; remove them from the plugin's config block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.Plugin().Configure(context.Background(), &sdk.ConfigureRequest{Settings: json.RawMessage(tt.settings)})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Configure(%s) = %v, want nil", tt.settings, err)
				}
				if diff := cmp.Diff(&sdk.ConfigureResponse{}, resp); diff != "" {
					t.Errorf("Configure (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("Configure(%s) = %v, want sdk.ErrInvalidArgument", tt.settings, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Configure(%s) = %q, want %q", tt.settings, err, tt.wantErr)
			}
		})
	}
}

func TestConfigureDecodeConfig(t *testing.T) {
	h := sdktest.Serve(t, newWorkbench())
	ctx := context.Background()
	tests := []struct {
		name     string
		settings any
		want     *sdk.ConfigureResponse
		wantErr  string
	}{
		{name: "defaults", settings: nil, want: &sdk.ConfigureResponse{Warnings: []string{"greeting is hello"}}},
		{name: "set", settings: map[string]any{"greeting": "halo", "retries": 1}, want: &sdk.ConfigureResponse{Warnings: []string{"greeting is halo"}}},
		{name: "unknown field", settings: map[string]any{"greting": "halo"},
			wantErr: `invalid argument: settings: unknown field "greting"; check the plugin's config_schema for the fields it takes`},
		{name: "wrong type", settings: map[string]any{"retries": "3"},
			wantErr: `invalid argument: settings: field "retries": expected int, got a JSON string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Configure(ctx, tt.settings)
			if tt.wantErr != "" {
				if !errors.Is(err, sdk.ErrInvalidArgument) {
					t.Fatalf("Configure = %v, want sdk.ErrInvalidArgument", err)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("Configure = %q, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Configure (-want +got):\n%s", diff)
			}
		})
	}
}

// kv runs one key-value operation inside the plugin.
func kv(ctx context.Context, p sdk.HTTPHandler, op kvOp) (kvResult, error) {
	body, err := json.Marshal(op)
	if err != nil {
		return kvResult{}, err
	}
	resp, err := p.HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/kv", Request: sdk.HTTPRequest{Method: http.MethodPost, Body: body}})
	if err != nil {
		return kvResult{}, err
	}
	var res kvResult
	if err := json.Unmarshal(resp.Response.Body, &res); err != nil {
		return kvResult{}, fmt.Errorf("decode %q: %w", resp.Response.Body, err)
	}
	return res, nil
}

func TestHostKV(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, newWorkbench())
	clk := sdktest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h.Host.Now = clk.Now // before the plugin can reach the host

	// Before Configure the plugin does not know where the host is.
	_, err := kv(ctx, h.Plugin(), kvOp{Op: "get", Key: "k"})
	if !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Fatalf("KVGet before Configure = %v, want sdk.ErrFailedPrecondition", err)
	}
	if want := `kv get "k": failed precondition: host services are available once the host has configured the plugin`; err.Error() != want {
		t.Errorf("KVGet before Configure = %q, want %q", err, want)
	}

	if _, err := h.Configure(ctx, nil); err != nil {
		t.Fatalf("Configure: %v", err)
	}

	binary := []byte{0, 0xff, 'x', '\n'}
	steps := []struct {
		name    string
		advance time.Duration
		op      kvOp
		want    kvResult
	}{
		{name: "missing key", op: kvOp{Op: "get", Key: "greeting"}, want: kvResult{}},
		{name: "set", op: kvOp{Op: "set", Key: "greeting", Value: []byte("hello")}, want: kvResult{OK: true}},
		{name: "get", op: kvOp{Op: "get", Key: "greeting"}, want: kvResult{Value: []byte("hello"), OK: true}},
		{name: "set only if absent, present", op: kvOp{Op: "set", Key: "greeting", Value: []byte("other"), OnlyIfAbsent: true}, want: kvResult{}},
		{name: "unchanged", op: kvOp{Op: "get", Key: "greeting"}, want: kvResult{Value: []byte("hello"), OK: true}},
		{name: "overwrite", op: kvOp{Op: "set", Key: "greeting", Value: binary}, want: kvResult{OK: true}},
		{name: "binary value", op: kvOp{Op: "get", Key: "greeting"}, want: kvResult{Value: binary, OK: true}},
		{name: "delete", op: kvOp{Op: "delete", Key: "greeting"}, want: kvResult{OK: true}},
		{name: "delete again", op: kvOp{Op: "delete", Key: "greeting"}, want: kvResult{}},
		{name: "deleted", op: kvOp{Op: "get", Key: "greeting"}, want: kvResult{}},

		{name: "lock with TTL", op: kvOp{Op: "set", Key: "lock", Value: []byte("1"), TTL: 30 * time.Second, OnlyIfAbsent: true}, want: kvResult{OK: true}},
		{name: "lock taken", op: kvOp{Op: "set", Key: "lock", Value: []byte("2"), OnlyIfAbsent: true}, want: kvResult{}},
		{name: "before expiry", advance: 29 * time.Second, op: kvOp{Op: "get", Key: "lock"}, want: kvResult{Value: []byte("1"), OK: true}},
		{name: "at expiry", advance: time.Second, op: kvOp{Op: "get", Key: "lock"}, want: kvResult{}},
		{name: "lock free again", op: kvOp{Op: "set", Key: "lock", Value: []byte("3"), OnlyIfAbsent: true}, want: kvResult{OK: true}},
		{name: "no TTL keeps", advance: 24 * time.Hour, op: kvOp{Op: "get", Key: "lock"}, want: kvResult{Value: []byte("3"), OK: true}},
		{name: "delete expired", op: kvOp{Op: "set", Key: "tmp", Value: []byte("x"), TTL: time.Millisecond}, want: kvResult{OK: true}},
		{name: "expired key is not deleted", advance: time.Millisecond, op: kvOp{Op: "delete", Key: "tmp"}, want: kvResult{}},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		got, err := kv(ctx, h.Plugin(), s.op)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("step %d (%s) %+v (-want +got):\n%s", i, s.name, s.op, diff)
		}
	}
}

func TestHostPublish(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, newWorkbench())
	clk := sdktest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h.Host.Now = clk.Now

	publish := func(ev sdk.Event) (string, error) {
		body, _ := json.Marshal(ev)
		resp, err := h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/publish", Request: sdk.HTTPRequest{Body: body}})
		if err != nil {
			return "", err
		}
		return string(resp.Response.Body), nil
	}

	if _, err := publish(sdk.Event{Type: "early"}); !errors.Is(err, sdk.ErrFailedPrecondition) {
		t.Fatalf("Publish before Configure = %v, want sdk.ErrFailedPrecondition", err)
	}
	if _, err := h.Configure(ctx, nil); err != nil {
		t.Fatalf("Configure: %v", err)
	}

	id, err := publish(sdk.Event{Type: "invoice.paid", Subject: "invoice/42", Data: json.RawMessage(`{"amount":150000}`)})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if id == "" {
		t.Fatal("Publish returned an empty id")
	}
	at := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)
	id2, err := publish(sdk.Event{ID: "evt-7", Type: "invoice.voided", Subject: "invoice/43", Time: at, Data: json.RawMessage(`{"reason":"duplicate"}`)})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if id2 != "evt-7" {
		t.Errorf("Publish returned id %q, want the event's own evt-7", id2)
	}

	want := []sdk.Event{
		{ID: id, Type: "invoice.paid", Source: "plugin", Subject: "invoice/42", Time: clk.Now(), Data: json.RawMessage(`{"amount":150000}`)},
		{ID: "evt-7", Type: "invoice.voided", Source: "plugin", Subject: "invoice/43", Time: at, Data: json.RawMessage(`{"reason":"duplicate"}`)},
	}
	if diff := cmp.Diff(want, h.Host.Events(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestPanicIsInternal(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, newWorkbench())
	for i := range 2 {
		_, err := h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/panic"})
		if !errors.Is(err, sdk.ErrInternal) {
			t.Fatalf("call %d: HandleHTTP = %v, want sdk.ErrInternal", i, err)
		}
		if want := "internal error: plugin panicked in /mikrobill.plugin.v1.PluginService/HandleHttp: boom"; err.Error() != want {
			t.Errorf("call %d: HandleHTTP = %q, want %q", i, err, want)
		}
		// The plugin keeps serving.
		desc, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
		if err != nil || desc.Name != "workbench" {
			t.Fatalf("Describe after a panic = %+v, %v; want the plugin to keep serving", desc, err)
		}
		health, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if err != nil || health.Status != sdk.HealthOK {
			t.Fatalf("CheckHealth after a panic = %+v, %v", health, err)
		}
	}
}

func TestCallerGivesUp(t *testing.T) {
	tests := []struct {
		name string
		// ctx returns the caller's context and what gives up on it.
		ctx func() (context.Context, context.CancelFunc)
		// cancel says the test cancels once the call has started; the
		// deadline ends the other on its own.
		cancel bool
		want   []error
		// wantPlugin are the errors the plugin's own context may end with.
		wantPlugin []error
	}{
		{
			name:       "canceled",
			ctx:        func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cancel:     true,
			want:       []error{sdk.ErrCanceled, context.Canceled},
			wantPlugin: []error{context.Canceled},
		},
		{
			name: "deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			want: []error{sdk.ErrDeadlineExceeded, context.DeadlineExceeded},
			// The server's own timer or the client's cancellation,
			// whichever arrives first.
			wantPlugin: []error{context.DeadlineExceeded, context.Canceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newWorkbench()
			h := sdktest.Serve(t, p)
			ctx, cancel := tt.ctx()
			defer cancel()

			errc := make(chan error, 1)
			go func() {
				_, err := h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/wait"})
				errc <- err
			}()
			select {
			case <-p.waiting:
			case <-time.After(waitTimeout):
				t.Fatal("the plugin never started the call")
			}
			if tt.cancel {
				cancel()
			}

			var err error
			select {
			case err = <-errc:
			case <-time.After(waitTimeout):
				t.Fatal("the call did not return after the caller gave up")
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("HandleHTTP = %v, want it to match %v", err, want)
				}
			}
			if errors.Is(err, sdk.ErrInternal) {
				t.Errorf("HandleHTTP = %v, must not match sdk.ErrInternal", err)
			}
			select {
			case got := <-p.waitErr:
				if !slices.Contains(tt.wantPlugin, got) {
					t.Errorf("the plugin's context ended with %v, want one of %v", got, tt.wantPlugin)
				}
			case <-time.After(waitTimeout):
				t.Fatal("the plugin's context was not cancelled")
			}
		})
	}
}

func TestOptionalCapabilitiesNotSupported(t *testing.T) {
	ctx := context.Background()
	h := sdktest.Serve(t, &bare{desc: sdk.DescribeResponse{Name: "bare"}})
	_, err := h.Plugin().HandleEvent(ctx, &sdk.HandleEventRequest{Event: sdk.Event{Type: "invoice.paid"}})
	if !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("HandleEvent = %v, want sdk.ErrNotSupported", err)
	} else if want := "not supported by this plugin: the plugin does not handle events (implement sdk.EventHandler)"; err.Error() != want {
		t.Errorf("HandleEvent = %q, want %q", err, want)
	}
	_, err = h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/"})
	if !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("HandleHTTP = %v, want sdk.ErrNotSupported", err)
	} else if want := "not supported by this plugin: the plugin serves no HTTP routes (implement sdk.HTTPHandler)"; err.Error() != want {
		t.Errorf("HandleHTTP = %q, want %q", err, want)
	}

	// A payment gateway without Refunder or MethodLister answers the
	// optional payment methods the same way.
	g := sdktest.Serve(t, &gatewayNoRefund{}).Payment()
	if _, err := g.(payment.MethodLister).ListMethods(ctx, &payment.ListMethodsRequest{}); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("ListMethods = %v, want sdk.ErrNotSupported", err)
	}
}

// gatewayNoRefund has only the required payment methods.
type gatewayNoRefund struct{ sdk.Base }

func (g *gatewayNoRefund) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "payment-min"}, nil
}

func (g *gatewayNoRefund) CreatePayment(context.Context, *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	return nil, sdk.ErrInternal
}

func (g *gatewayNoRefund) GetPayment(context.Context, *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	return nil, sdk.ErrInternal
}

func (g *gatewayNoRefund) HandleWebhook(context.Context, *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	return nil, sdk.ErrInternal
}

func TestHandleHTTPRoundTrip(t *testing.T) {
	ctx := context.Background()
	p := newWorkbench()
	h := sdktest.Serve(t, p)
	tests := []struct {
		name string
		req  *sdk.HandleHTTPRequest
	}{
		{
			name: "authenticated route",
			req: &sdk.HandleHTTPRequest{
				Request: sdk.HTTPRequest{
					Method:   http.MethodPost,
					Path:     "/echo/42",
					RawQuery: "force=1&note=a%20b",
					Header: http.Header{
						"Content-Type":    {"application/json"},
						"X-Forwarded-For": {"203.0.113.7", "10.0.0.1"},
					},
					Body:       []byte(`{"amount":150000}`),
					RemoteAddr: "203.0.113.7:41234",
					Host:       "billing.example.com",
					ReceivedAt: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC),
					RequestID:  "req-01",
					Principal:  &sdk.Principal{Subject: "user-7", Role: "operator"},
				},
				Route:      "/echo/{id}",
				PathParams: map[string]string{"id": "42"},
			},
		},
		{
			name: "public route",
			req: &sdk.HandleHTTPRequest{
				Request: sdk.HTTPRequest{Method: http.MethodGet, Path: "/public"},
				Route:   "/public",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.Plugin().HandleHTTP(ctx, tt.req)
			if err != nil {
				t.Fatalf("HandleHTTP: %v", err)
			}
			// nil and empty are the same on the wire.
			if diff := cmp.Diff(tt.req, p.lastRequest(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("the plugin received (-sent +received):\n%s", diff)
			}
			if tt.req.Request.Principal == nil && p.lastRequest().Request.Principal != nil {
				t.Errorf("the plugin received a principal on a public route")
			}
			want := &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{
				StatusCode: http.StatusCreated,
				Header:     http.Header{"X-Echo": {"one", "two"}, "Content-Type": {"text/plain"}},
				Body:       append([]byte("echo: "), tt.req.Request.Body...),
			}}
			if diff := cmp.Diff(want, resp); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("nil response is 204", func(t *testing.T) {
		resp, err := h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/nothing"})
		if err != nil {
			t.Fatalf("HandleHTTP: %v", err)
		}
		if diff := cmp.Diff(sdk.HTTPResponse{StatusCode: http.StatusNoContent}, resp.Response, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("response (-want +got):\n%s", diff)
		}
	})

	t.Run("error", func(t *testing.T) {
		_, err := h.Plugin().HandleHTTP(ctx, &sdk.HandleHTTPRequest{Route: "/missing"})
		if !errors.Is(err, sdk.ErrNotFound) || err.Error() != "not found: route /missing" {
			t.Errorf("HandleHTTP = %v, want sdk.ErrNotFound with the plugin's message", err)
		}
	})
}

func TestHandleEvent(t *testing.T) {
	p := newWorkbench()
	h := sdktest.Serve(t, p)
	ev := sdk.Event{
		ID:      "evt-1",
		Type:    "invoice.paid",
		Source:  "host",
		Subject: "invoice/42",
		Time:    time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC),
		Data:    json.RawMessage(`{"amount":150000}`),
	}
	if _, err := h.Plugin().HandleEvent(context.Background(), &sdk.HandleEventRequest{Event: ev}); err != nil {
		t.Fatalf("HandleEvent: %v", err)
	}
	p.mu.Lock()
	got := p.events
	p.mu.Unlock()
	if diff := cmp.Diff([]sdk.Event{ev}, got); diff != "" {
		t.Errorf("the plugin received (-sent +received):\n%s", diff)
	}
}

func TestServeRefuses(t *testing.T) {
	tests := []struct {
		name string
		impl sdk.Plugin
		want string
	}{
		{
			name: "two kinds",
			impl: &twoKinds{},
			want: "*sdk_test.twoKinds implements the interfaces of several plugin kinds ([audit payment]); a plugin has exactly one kind: split it into one plugin per kind",
		},
		{
			name: "nil",
			impl: nil,
			want: "sdk.Serve was given a nil plugin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // never serve for real
			var got error
			called := false
			serveopt.Serve(tt.impl, &serveopt.Config{
				Test:   &plugin.ServeTestConfig{Context: ctx},
				Logger: hclog.NewNullLogger(),
				Done:   func(err error) { got, called = err, true },
			})
			if !called {
				t.Fatal("Serve returned without calling Done")
			}
			if got == nil {
				t.Fatalf("Serve succeeded, want %q", tt.want)
			}
			if got.Error() != tt.want {
				t.Errorf("Serve = %q, want %q", got, tt.want)
			}
			if strings.Contains(got.Error(), "\n") {
				t.Errorf("Serve's error spans lines: %q", got)
			}
		})
	}
}
