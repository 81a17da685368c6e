package manifest

import (
	"fmt"
	"slices"

	"github.com/Masterminds/semver/v3"
)

// CheckHost reports whether this host can run the plugin: hostVersion must
// be at least min_host_version, and the plugin must speak at least one of
// the host's plugin protocol versions. It returns nil when both hold, and
// otherwise problems on fields "min_host_version" and "protocol_versions"
// that say what to upgrade or rebuild.
//
// A hostVersion that is not semver (a development build says "dev")
// satisfies any min_host_version.
func (m *Manifest) CheckHost(hostVersion string, protocols []int) []Problem {
	var problems []Problem
	add := func(field, format string, args ...any) {
		problems = append(problems, Problem{File: m.File, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if m.MinHostVersion != "" {
		need, nerr := semver.NewVersion(m.MinHostVersion)
		have, herr := semver.NewVersion(hostVersion)
		if nerr == nil && herr == nil && have.LessThan(need) {
			add("min_host_version", "needs mikrobill >= %s, this host is %s; upgrade the host", m.MinHostVersion, hostVersion)
		}
	}
	switch {
	case len(m.ProtocolVersions) == 0:
		add("protocol_versions", "lists no plugin protocol version, this host speaks %s; "+
			"list the versions the plugin's SDK speaks, such as [1]", formatInts(protocols))
	case !slices.ContainsFunc(m.ProtocolVersions, func(v int) bool { return slices.Contains(protocols, v) }):
		add("protocol_versions", "speaks plugin protocol %s, this host speaks %s; "+
			"rebuild the plugin with a matching SDK or upgrade the host", formatInts(m.ProtocolVersions), formatInts(protocols))
	}
	return problems
}
