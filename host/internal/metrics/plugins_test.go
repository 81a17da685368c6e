package metrics

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSource answers CollectMetrics per plugin: text, an error, or a delay
// longer than any scrape should wait.
type fakeSource struct {
	text  map[string]string
	err   map[string]error
	delay map[string]time.Duration
}

func (f *fakeSource) PIDs() map[string]int {
	out := map[string]int{}
	for _, m := range []map[string]string{f.text} {
		for n := range m {
			out[n] = 1
		}
	}
	for n := range f.err {
		out[n] = 1
	}
	for n := range f.delay {
		out[n] = 1
	}
	return out
}

func (f *fakeSource) CollectMetrics(ctx context.Context, name string) ([]byte, error) {
	if d, ok := f.delay[name]; ok {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := f.err[name]; err != nil {
		return nil, err
	}
	return []byte(f.text[name]), nil
}

func TestPluginGathererLabelsMergesAndNeverStalls(t *testing.T) {
	src := &fakeSource{
		text: map[string]string{
			"alpha": "# TYPE jobs_total counter\njobs_total{queue=\"a\"} 2\n",
			"beta":  "# TYPE jobs_total counter\njobs_total{queue=\"b\",plugin=\"self\"} 5\n# TYPE up gauge\nup 1\n",
			"junk":  "this is not prometheus text {{{\n",
		},
		err:   map[string]error{"broken": errors.New("boom")},
		delay: map[string]time.Duration{"sloth": time.Minute},
	}
	reg := prometheus.NewRegistry()
	g := NewPluginGatherer(src, 200*time.Millisecond, hclog.NewNullLogger(), reg)

	start := time.Now()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a scrape with a slow plugin took %s; the timeout is 200ms", took)
	}
	got := map[string][]string{}
	for _, f := range fams {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[f.GetName()] = append(got[f.GetName()], strings.Join(labels, ","))
		}
	}
	want := map[string][]string{
		"jobs_total": {"plugin=alpha,queue=a", "exported_plugin=self,plugin=beta,queue=b"},
		"up":         {"plugin=beta"},
	}
	for k := range got {
		slices.Sort(got[k])
	}
	for k := range want {
		slices.Sort(want[k])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gathered families (-want +got):\n%s", diff)
	}
	for _, name := range []string{"sloth", "broken", "junk"} {
		if v := testutil.ToFloat64(g.failures.WithLabelValues(name)); v != 1 {
			t.Errorf("scrape failures of %s = %v, want 1", name, v)
		}
	}
}
