package paymenttest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// templateDir is plugins/payment-template, from this package's folder.
const templateDir = "../../plugins/payment-template"

// edit replaces Old, which must occur exactly once in File, with New.
type edit struct {
	File, Old, New string
}

// mutation is one deliberate flaw in a copy of plugins/payment-template and
// the checks of the kit that must fail on it.
type mutation struct {
	name  string
	edits []edit
	// subject is the conformance subtest to run: "in-process" or
	// "executable" (for what only a process shows: a restart).
	subject string
	// caughtBy are the kit's subtests (paths under the subject) that must
	// fail.
	caughtBy []string
}

// mutations is the table in docs/conformance-mutations.md: keep the two
// in step (TestMutationTableDocumented).
var mutations = []mutation{
	{
		name: "a notification without a signature is accepted",
		edits: []edit{{"gateway.go", "\treturn signature.Verify(r.Header, r.Body, a.s.WebhookSecret, a.now())\n",
			"\tif r.Header.Get(signature.Header) == \"\" {\n\t\treturn nil\n\t}\n\treturn signature.Verify(r.Header, r.Body, a.s.WebhookSecret, a.now())\n"}},
		caughtBy: []string{"refusals/unsigned", "refusals/empty_signature"},
	},
	{
		name: "the signature is required but never compared with the body",
		edits: []edit{{"gateway.go", "\treturn signature.Verify(r.Header, r.Body, a.s.WebhookSecret, a.now())\n",
			"\tif r.Header.Get(signature.Header) == \"\" {\n\t\treturn errors.New(\"unsigned\")\n\t}\n\treturn nil\n"}},
		caughtBy: []string{"refusals/bad_signature", "refusals/tampered_amount"},
	},
	{
		name: "failed, expired and cancelled status words mapped to paid",
		edits: []edit{{"examplepay.go", "\"failed\": payment.StatusFailed,\n\t\"expired\": payment.StatusExpired, \"cancelled\": payment.StatusCancelled,",
			"\"failed\": payment.StatusPaid,\n\t\"expired\": payment.StatusPaid, \"cancelled\": payment.StatusPaid,"}},
		caughtBy: []string{"unpaid/failed", "unpaid/cancelled", "unpaid/expired"},
	},
	{
		name: "an unknown status word counted as paid",
		edits: []edit{
			{"gateway.go", "\treturn fields.Parse(a.c.Get(ctx, \"/v1/payments/\"+url.PathEscape(id), nil))\n",
				"\tp, err := fields.Parse(a.c.Get(ctx, \"/v1/payments/\"+url.PathEscape(id), nil))\n\tif err == nil {\n\t\tp.Status = paidUnlessKnown(p.GatewayStatus)\n\t}\n\treturn p, err\n"},
			{"gateway.go", "n.ID, n.Status, n.OccurredAt = e.ID, statuses.Status(word), e.CreatedAt", "n.ID, n.Status, n.OccurredAt = e.ID, paidUnlessKnown(word), e.CreatedAt"},
			{"examplepay.go", "// statuses maps Example Pay's status words; an unknown word is pending.", "func paidUnlessKnown(word string) payment.Status {\n\tif s, ok := statuses[word]; ok {\n\t\treturn s\n\t}\n\treturn payment.StatusPaid\n}\n\n// statuses maps Example Pay's status words; an unknown word is pending."},
		},
		caughtBy: []string{"unpaid/unknown_status"},
	},
	{
		name: "GetPayment by order id alone refused",
		edits: []edit{{"gateway.go", "func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {\n",
			"func (a *api) GetByOrder(ctx context.Context, orderID string) (*payment.Payment, error) {\n\tif orderID != \"\" {\n\t\treturn nil, fmt.Errorf(\"%w: give the payment's id\", sdk.ErrInvalidArgument)\n\t}\n"}},
		caughtBy: []string{"status_by_order"},
	},
	{
		// The SDK refuses XTS (a code that names no money) before any
		// gateway built on it is asked, so the mutant is the plugin in
		// front of the Gateway: it passes XTS on and answers the
		// gateway's refusal as a plain error, as a hand-written plugin
		// might.
		name: "a currency the gateway refuses is passed on as a plain error",
		edits: []edit{
			{"gateway.go", "// signature is Example Pay's webhook signature", "type plainCurrencyRefusal struct{ *gateway.Gateway[settings] }\n\n" +
				"func (g plainCurrencyRefusal) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {\n" +
				"\tif req.Amount.Currency == \"XTS\" {\n\t\treturn nil, errors.New(\"Example Pay refused the currency\")\n\t}\n" +
				"\treturn g.Gateway.CreatePayment(ctx, req)\n}\n\n// signature is Example Pay's webhook signature"},
			{"conformance_test.go", "paymenttest.InProcess(t, NewGateway())", "paymenttest.InProcess(t, plainCurrencyRefusal{NewGateway()})"},
		},
		caughtBy: []string{"currency"},
	},
	{
		name: "CreatePayment calls the API without the call's deadline",
		edits: []edit{{"gateway.go", "return fields.Parse(a.c.Do(ctx, gateway.Call{Method: http.MethodPost,",
			"return fields.Parse(a.c.Do(context.Background(), gateway.Call{Method: http.MethodPost,"}},
		caughtBy: []string{"hang/create"},
	},
	{
		name: "the status query (GetPayment, and HandleWebhook's confirmation) without the call's deadline",
		edits: []edit{{"gateway.go", "return fields.Parse(a.c.Get(ctx, \"/v1/payments/\"+url.PathEscape(id), nil))",
			"return fields.Parse(a.c.Get(context.Background(), \"/v1/payments/\"+url.PathEscape(id), nil))"}},
		caughtBy: []string{"hang/get", "hang/webhook"},
	},
	{
		name: "the API key logged",
		edits: []edit{{"gateway.go", "\tif env.Environment == \"production\" && strings.HasPrefix(s.APIKey, \"ek_test_\") {",
			"\tenv.Log.Info(\"connecting\", \"api_key\", s.APIKey)\n\tif env.Environment == \"production\" && strings.HasPrefix(s.APIKey, \"ek_test_\") {"}},
		caughtBy: []string{"secrets"},
	},
	{
		name:     "replay records kept longer than the host allows",
		edits:    []edit{{"gateway.go", "ReplayTTL:    4 * 24 * time.Hour,", "ReplayTTL:    500 * 24 * time.Hour,"}},
		caughtBy: []string{"limits"},
	},
}

// TestMutations copies plugins/payment-template once per mutation, applies
// it, and runs the copy's conformance test (the kit against the template):
// the unmutated copy passes, and each mutant fails the checks named for it.
// A mutation whose snippet is no longer in the template fails the test, so
// a change to the template cannot silently void it.
func TestMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a copy of plugins/payment-template per mutation; skipped with -short")
	}
	src, err := filepath.Abs(templateDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		t.Skipf("plugins/payment-template is not beside this SDK (%v): the mutation test runs inside the mikrobill repository", err)
	}
	sdkDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cases := append([]mutation{{name: "unmutated"}}, mutations...)
	// Every copy first, so that a stale snippet fails before anything is
	// built.
	dirs := make([]string, len(cases))
	for i, m := range cases {
		dirs[i] = copyTemplate(t, src, sdkDir)
		for _, e := range m.edits {
			if err := applyEdit(dirs[i], e); err != nil {
				t.Fatalf("mutation %q: %v\nthe template changed: update the mutation to break the same rule in the new code", m.name, err)
			}
		}
	}
	// The runs wait on builds and deadlines more than they compute: four
	// at a time, whatever -parallel says.
	type result struct {
		failed []string
		out    string
		err    error
	}
	results := make([]result, len(cases))
	sem := make(chan struct{}, mutationRuns)
	var wg sync.WaitGroup
	for i, m := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &results[i]
			r.failed, r.out, r.err = runConformance(t, dirs[i], cmpOr(m.subject, "in-process"))
		})
	}
	wg.Wait()
	for i, m := range cases {
		t.Run(m.name, func(t *testing.T) {
			r := results[i]
			if m.edits == nil {
				if r.err != nil || len(r.failed) > 0 {
					t.Fatalf("the unmutated template fails the kit (%v): failed %v\n%s", r.err, r.failed, r.out)
				}
				return
			}
			if r.err == nil {
				t.Fatalf("the kit passed the mutant; want it to fail %v\n%s", m.caughtBy, r.out)
			}
			for _, check := range m.caughtBy {
				if !slices.Contains(r.failed, check) {
					t.Errorf("check %s did not fail on the mutant (failed: %v)", check, r.failed)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", r.out)
			} else {
				t.Logf("failed checks: %v", r.failed)
			}
		})
	}
}

// mutationRuns is how many mutants' conformance runs go at once.
const mutationRuns = 4

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// copyTemplate copies the template's files into a new folder, its go.mod
// pointing at this SDK.
func copyTemplate(t *testing.T, src, sdkDir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "go.mod" {
			raw = bytes.ReplaceAll(raw, []byte("=> ../../sdk"), []byte("=> "+sdkDir))
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the template: %v", err)
	}
	return dst
}

// applyEdit replaces e.Old, which must occur exactly once, with e.New.
func applyEdit(dir string, e edit) error {
	path := filepath.Join(dir, e.File)
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n := bytes.Count(raw, []byte(e.Old)); n != 1 {
		return fmt.Errorf("%s holds %q %d times, want once", e.File, e.Old, n)
	}
	return os.WriteFile(path, bytes.Replace(raw, []byte(e.Old), []byte(e.New), 1), 0o644)
}

// runConformance runs the copy's TestConformance/<subject> and returns the
// kit's subtests that failed, as paths under the subject.
// It may run outside the test's goroutine: it reports a failure to run go
// test in err, never through t.
func runConformance(t *testing.T, dir, subject string) (failed []string, out string, err error) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-vet=off", "-json", "-run", "^TestConformance$/^"+subject+"$", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	prefix := "TestConformance/" + subject + "/"
	var text strings.Builder
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			text.Write(sc.Bytes())
			text.WriteByte('\n')
			continue
		}
		text.WriteString(ev.Output)
		if ev.Action == "fail" && strings.HasPrefix(ev.Test, prefix) {
			failed = append(failed, strings.TrimPrefix(ev.Test, prefix))
		}
	}
	sort.Strings(failed)
	text.WriteString(stderr.String())
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		err = fmt.Errorf("go test in the copy did not run: %w", err)
	}
	return failed, text.String(), err
}

// TestMutationTableDocumented: docs/conformance-kit.md's table lists every
// mutation with the checks that catch it, as the table above has them.
func TestMutationTableDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../docs/conformance-kit.md")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("docs/conformance-kit.md is not beside this SDK: the test runs inside the mikrobill repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, m := range mutations {
		row := "| " + m.name + " | " + strings.Join(m.caughtBy, ", ") + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/conformance-kit.md has no row\n%s\nkeep its table in step with mutations", row)
		}
	}
}
