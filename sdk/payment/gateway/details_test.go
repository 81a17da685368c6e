package gateway_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Env.Detail reaches CheckHealth's details; Env.HostEnvironment is the
// host's environment, for a warning.
func TestEnvDetailAndHostEnvironment(t *testing.T) {
	g := gateway.New(gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0",
		Environments: map[string]string{"sandbox": "https://sandbox.mem.example"},
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}},
		New: func(s settings, env *gateway.Env) (gateway.API, error) {
			env.Detail("mode", "test")
			if env.HostEnvironment == "production" {
				env.Warn("a test token in production")
			}
			return &memAPI{payments: map[string]*payment.Payment{}}, nil
		},
	})
	h := sdktest.Serve(t, g, sdktest.WithHost(sdktest.NewFakeHost()))
	ctx := context.Background()
	raw, _ := json.Marshal(map[string]any{"token": "t"})
	resp, err := h.Plugin().Configure(ctx, &sdk.ConfigureRequest{Settings: raw, Environment: "production"})
	if err != nil || len(resp.Warnings) != 1 || resp.Warnings[0] != "a test token in production" {
		t.Fatalf("Configure = %+v, %v; want the warning", resp, err)
	}
	hr, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if err != nil || hr.Status != sdk.HealthOK || hr.Details["mode"] != "test" || hr.Details["environment"] != "sandbox" {
		t.Errorf("CheckHealth = %+v, %v; want ok with mode test and environment sandbox", hr, err)
	}
}
