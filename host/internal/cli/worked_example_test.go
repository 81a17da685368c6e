package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestWorkedExampleScript runs scripts/worked-example.sh (the worked
// example of docs/api.md) against a host with the real payment-manual
// plugin: it signs in through the API, makes a customer and an invoice,
// pays it in cash and confirms the payment on the signed webhook, and ends
// with the invoice paid.
func TestWorkedExampleScript(t *testing.T) {
	script, err := filepath.Abs("../../../scripts/worked-example.sh")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v %s", err, out)
	}
	for _, tool := range []string{"bash", "curl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed to run the worked example", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	d := testenv.NewPluginDir(t)
	d.AddBundled("payment-manual")
	h := startHost(t, d.Dir)
	env := []string{"MIKROBILL_DATA_DIR=" + h.dataDir}
	if err, _, stderr := runIn(t, env, "correct horse battery\n", "user", "create", "--username", "ana", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v %s", err, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "B=http://"+h.addr, "CREATE_USER=0", "ADMIN_USER=ana", "ADMIN_PASSWORD=correct horse battery")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("worked-example.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"==> sign in", "location 1, plan 1, customer 1", "invoice 1 is paid"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the script's output lacks %q:\n%s", want, out)
		}
	}
}
