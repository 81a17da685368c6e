// Package sdk is what mikrobill plugin authors import.
//
// A plugin is a program whose main calls Serve with an implementation of one
// plugin kind's interface: payment.Gateway, router.Router, notify.Notifier
// or audit.Sink (or only Plugin, for a generic plugin). The host starts the
// program, talks to it over gRPC with mutual TLS (hashicorp/go-plugin), and
// supervises it; the author sees none of that. The package example (Gateway)
// is a whole payment plugin:
//
//	func main() { sdk.Serve(&Gateway{}) }
//
// Where to start:
//   - Plugin and Base: the methods every plugin has, their defaults, and
//     the optional interfaces beside them (EventHandler, HTTPHandler,
//     Shutdowner).
//   - The kind packages: payment, router, notify, audit. A payment gateway
//     is shortest written on package payment/gateway: the settings and the
//     gateway's API, and the SDK does the rest.
//   - DecodeConfig: strict decoding of the settings Configure receives.
//   - The sentinel errors (ErrNotFound, ...): return them, and the host sees
//     the same error with errors.Is.
//   - Logger (or Base.Log) and Base.Host: logging (a *slog.Logger writing
//     hclog JSON on stderr, which the host parses; nothing but the
//     handshake may go to stdout) and the host's services: the durable
//     store (Store*: the host's database, TTLs up to 400 days; idempotency
//     and replay records), the cache (Cache*: may lose entries, TTLs up to
//     30 days), both limited by ValidateKV, and Publish.
//   - Package sdktest to test an implementation over real gRPC, and package
//     paymenttest, the conformance kit for payment gateways.
//
// The plugin's manifest, plugin.json, sits beside the executable; its name,
// version and kind must match what Describe returns. See
// docs/writing-a-payment-plugin.md.
//
// # A response or an error
//
// Every method returns a response or an error. Returning neither (a nil
// response with a nil error) is a bug in the plugin, whatever the kind and
// the method: the host gets ErrInternal naming the method ("internal
// error: CreatePayment returned neither a response nor an error; ..."), as
// it does for a panic. An empty success instead would let the bug pass for
// an answer: a webhook acknowledged without its event, a user reported
// created on a router. To answer "nothing to report", return the empty
// response (&router.DisconnectSessionResponse{}).
//
// The one exception is HTTPHandler.HandleHTTP: there a nil response is an
// HTTP answer without a body, 204 No Content.
package sdk
