package paymenttest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/toypay"
)

// NewGateway stands for your plugin's constructor, the value your main
// passes to sdk.Serve.
func NewGateway() payment.Gateway { return &toypay.Gateway{} }

// newFakeAPI stands for your Fake: an httptest server on 127.0.0.1 that
// answers like your gateway's API and signs notifications like it.
func newFakeAPI(t testing.TB) paymenttest.Fake { return toypay.NewFake(t) }

// A plugin's conformance_test.go, in its main package next to plugin.json:
// the suite runs against the gateway served in-process, and against the
// executable built from the package, launched the way the host launches it.
// The Executable subtest checks what only a real process shows: the
// handshake, and that Describe matches plugin.json.
func Example() {
	// func TestConformance(t *testing.T) {
	testConformance := func(t *testing.T) {
		t.Run("in-process", func(t *testing.T) {
			paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), newFakeAPI(t), paymenttest.Options{})
		})
		t.Run("executable", func(t *testing.T) {
			dir := t.TempDir()
			build := exec.Command("go", "build", "-o", filepath.Join(dir, "mikrobill-plugin-payment-acme"), ".")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			manifest, err := os.ReadFile("plugin.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "plugin.json"), manifest, 0o644); err != nil {
				t.Fatal(err)
			}
			paymenttest.Run(t, paymenttest.Executable(t, dir), newFakeAPI(t), paymenttest.Options{})
		})
	}
	_ = testConformance
}

// Options for a gateway whose signed notification is the last word (no
// status API) and which calls no remote API, such as payment-manual.
func ExampleOptions() {
	testConformance := func(t *testing.T) {
		paymenttest.Run(t, paymenttest.InProcess(t, NewGateway()), newFakeAPI(t), paymenttest.Options{
			NotificationIsAuthoritative: true,
			NoRemoteAPI:                 true,
		})
	}
	_ = testConformance
}
