// Package version holds the host's version, set at build time:
//
//	go build -ldflags "-X github.com/mikrobill/mikrobill/host/internal/version.Version=1.2.3"
package version

// Version is the host's semantic version. `make build` sets it from
// the VERSION file.
var Version = "0.1.0-dev"

// Capabilities are the host capabilities plugins may depend on.
var Capabilities = []string{"database", "cache"}
