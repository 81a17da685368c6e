package sdk_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
)

func TestCounters(t *testing.T) {
	c := sdk.NewCounters("pay_api_requests_total", "Calls by operation and outcome.", "operation", "outcome")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Inc("status", "ok") })
	}
	wg.Wait()
	c.Inc("create", "503")
	c.Inc("create", "ok")
	c.Inc("status", `say "hi"`)
	// "a" sorts before "ab" although "a"+sep+... would not as one string.
	c.Inc("a", "x")
	c.Inc("ab", "x")
	var b bytes.Buffer
	c.WriteText(&b)
	want := `# HELP pay_api_requests_total Calls by operation and outcome.
# TYPE pay_api_requests_total counter
pay_api_requests_total{operation="a",outcome="x"} 1
pay_api_requests_total{operation="ab",outcome="x"} 1
pay_api_requests_total{operation="create",outcome="503"} 1
pay_api_requests_total{operation="create",outcome="ok"} 1
pay_api_requests_total{operation="status",outcome="ok"} 10
pay_api_requests_total{operation="status",outcome="say \"hi\""} 1
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("WriteText (-want +got):\n%s", d)
	}
	if c.Get("status", "ok") != 10 || c.Get("status", "never") != 0 {
		t.Errorf("Get = %d, %d", c.Get("status", "ok"), c.Get("status", "never"))
	}

	empty := sdk.NewCounters("pay_webhooks_total", "Webhooks.", "result")
	b.Reset()
	empty.WriteText(&b)
	if b.String() != "# HELP pay_webhooks_total Webhooks.\n# TYPE pay_webhooks_total counter\n" {
		t.Errorf("no samples: %q", b.String())
	}
	defer func() {
		if recover() == nil {
			t.Error("Inc with the wrong number of label values did not panic")
		}
	}()
	empty.Inc("a", "b")
}
