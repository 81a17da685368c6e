package blackbox_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/paymenttest/blackbox"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/toypay"
)

// buildToy builds the kit's toy gateway with flaw into a plugin folder.
func buildToy(t *testing.T, flaw toypay.Flaw) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.flaw="+string(flaw), "-o", filepath.Join(dir, "mikrobill-plugin-payment-toypay"), "../testdata/toypay").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	manifest, err := os.ReadFile("../testdata/toypay/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func statuses(rs []blackbox.Result) map[string]blackbox.Status {
	out := map[string]blackbox.Status{}
	for _, r := range rs {
		out[r.Name] = r.Status
	}
	return out
}

// TestRun: the toy gateway passes every check; accepting any settings, it
// fails settings_refused, saying what to do; CheckHealth asking a hung API
// fails deadlines. (The unsigned notification failing is shown on the
// Node.js example by host/internal/cli's TestPluginTestCommand: the toy
// gateway refuses the kit's generic body as malformed before any
// signature.)
func TestRun(t *testing.T) {
	settings, _ := json.Marshal(map[string]any{"base_url": "http://127.0.0.1:9", "api_key": "k", "webhook_secret": "toy-webhook-secret-0123456789"})
	opts := blackbox.Options{Settings: settings, HangSetting: "base_url", InvalidSettings: []byte(`{"base_url":"ftp://nowhere","api_key":"k","webhook_secret":"short"}`)}
	for _, c := range []struct {
		flaw toypay.Flaw
		fail []string
	}{
		{"", nil},
		{toypay.AcceptsAnySettings, []string{"settings_refused"}},
		{toypay.HealthCallsAPI, []string{"deadlines"}},
	} {
		t.Run(string(c.flaw), func(t *testing.T) {
			rs, err := blackbox.Run(t.Context(), buildToy(t, c.flaw), opts)
			if err != nil {
				t.Fatal(err)
			}
			got := statuses(rs)
			if len(rs) != 10 {
				t.Errorf("%d results, want 10: %v", len(rs), got)
			}
			for _, r := range rs {
				want := blackbox.Pass
				for _, f := range c.fail {
					if r.Name == f {
						want = blackbox.Fail
					}
				}
				if r.Status != want {
					t.Errorf("%s: %s (%s), want %s", r.Name, r.Status, r.Got, want)
				}
				if r.Status == blackbox.Fail && (r.Expect == "" || r.Got == "" || r.Fix == "") {
					t.Errorf("%s failed without saying what was expected, what happened and what to do: %+v", r.Name, r)
				}
			}
			if blackbox.Failed(rs) != (c.fail != nil) {
				t.Errorf("Failed = %t, want %t", blackbox.Failed(rs), c.fail != nil)
			}
		})
	}
	if _, err := blackbox.Run(t.Context(), t.TempDir(), opts); err == nil {
		t.Error("Run of a folder without plugin.json: no error")
	}
}
