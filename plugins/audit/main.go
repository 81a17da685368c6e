// Command mikrobill-plugin-audit is mikrobill's audit log plugin: an
// append-only, hash-chained log in SQLite with a Merkle tree (RFC 6962) and
// signed checkpoints over it. The host starts it; it is not run by hand.
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewLog()) }
