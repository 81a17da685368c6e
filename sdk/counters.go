package sdk

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Counters is a family of Prometheus counters that share a name and label
// names, for a plugin's CollectMetrics: Inc where the plugin does something,
// WriteText in CollectMetrics (see the example).
//
// It is safe for concurrent use.
type Counters struct {
	name, help string
	labels     []string

	mu     sync.Mutex
	values map[string]uint64 // by the label values joined with labelSep
}

const labelSep = "\xff"

// NewCounters makes a counter family. Every Inc gives one value per label
// name, in this order.
func NewCounters(name, help string, labels ...string) *Counters {
	return &Counters{name: name, help: help, labels: labels, values: map[string]uint64{}}
}

// Inc adds one to the counter of these label values. It panics when the
// number of values is not the number of label names: that is a bug in the
// plugin, not something to report at run time.
func (c *Counters) Inc(values ...string) {
	if len(values) != len(c.labels) {
		panic(fmt.Sprintf("sdk.Counters %s: %d label values for %d labels %v", c.name, len(values), len(c.labels), c.labels))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.values[strings.Join(values, labelSep)]++
}

// Get is the counter of these label values (0 when never incremented).
func (c *Counters) Get(values ...string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[strings.Join(values, labelSep)]
}

// WriteText writes the family in the Prometheus text format: HELP and
// TYPE lines, then one sample per set of label values, sorted by them.
func (c *Counters) WriteText(b *bytes.Buffer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
	keys := make([][]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, strings.Split(k, labelSep))
	}
	slices.SortFunc(keys, slices.Compare)
	for _, vs := range keys {
		b.WriteString(c.name)
		if len(vs) > 0 && len(c.labels) > 0 {
			b.WriteByte('{')
			for i, v := range vs {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(b, "%s=%q", c.labels[i], v)
			}
			b.WriteByte('}')
		}
		fmt.Fprintf(b, " %d\n", c.values[strings.Join(vs, labelSep)])
	}
}
