// Command mikrobill-plugin-whatsapp is mikrobill's notify plugin for
// WhatsApp: several sender sessions, each a linked device of a WhatsApp
// account paired by QR code or pairing code, and a durable queue that sends
// through them at a throttled rate and never sends a message twice. The host
// starts it; it is not run by hand.
//
// Start with Plugin in plugin.go (settings in settings.go). The sessions are
// in sessions.go, the queue's storage in store.go, the sender in sender.go,
// phone numbers in phone.go, health and metrics in health.go. WhatsApp is
// behind package internal/wa: the default build uses whatsmeow, the build
// with the wafake tag a fake (README.md).
package main

import "github.com/mikrobill/mikrobill/sdk"

func main() { sdk.Serve(NewPlugin(newBackend)) }
