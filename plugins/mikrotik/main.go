// Command mikrobill-plugin-mikrotik is mikrobill's router plugin for
// MikroTik RouterOS: it keeps hotspot users and PPP secrets, their
// profiles and their sessions on one or more routers through the RouterOS
// API (the api service, or api-ssl with TLS). The host starts it; it is not
// run by hand.
//
// Start with Plugin in plugin.go (settings in settings.go). Each router is
// a location with one API connection (conn.go); the operations are in
// profiles.go, users.go and sessions.go, all of them read-then-write so a
// retry changes nothing more; health and metrics are in health.go and
// stats.go. README.md says how to prepare a router.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewPlugin()) }
