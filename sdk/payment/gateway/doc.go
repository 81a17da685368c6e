// Package gateway is the short way to write a payment gateway plugin: you
// write what differs from one gateway to the next, and the SDK does the
// rest the same way for every gateway.
//
// Where to start: fill in a Spec and serve it. The example (Example) is a
// whole plugin; plugins/payment-template and plugins/payment-xendit in the
// mikrobill repository are real ones, and docs/writing-a-payment-plugin.md
// is the guide.
//
//	func main() { sdk.Serve(gateway.New(spec)) }
//
// What you write:
//   - the settings: a struct with json tags (embed Connection for the API's
//     address and timeout), its defaults in Spec.Defaults, and optionally a
//     Validate method. Spec.New builds your API from valid settings; it
//     returns ErrNotConfigured while the credentials are not set.
//   - the API (the API interface): create a payment at the gateway, ask its
//     status by id and by order id, verify a notification over the raw
//     request and read its fields. Use the Client that Env.Client gives
//     you for HTTP, the signature helpers (HMACSHA256, TokenEqual, ...) and
//     the amount helpers (FormatAmount, ParseAmount).
//
// What the SDK does (the Gateway that New returns implements
// payment.Gateway):
//   - Configure: strict decoding (unknown fields are errors), Validate,
//     the Connection checks (an https base URL, http only on loopback),
//     New, and the swap to the new API; "not configured" answers until the
//     credentials are set; health from memory (degraded while not
//     configured or after a failed call; reset by new settings).
//   - CreatePayment: the request's own checks, the currencies of
//     Spec.Currencies, an idempotency record per key in the host's durable
//     store (a key seen before returns its payment, never a second one,
//     even at a gateway that takes no idempotency key), and a check that
//     the gateway answered about the order and amount asked for.
//   - GetPayment: by id, by order id (the newest payment), or both (the id
//     must belong to the order).
//   - HandleWebhook: verify first (payment.ErrInvalidSignature), then
//     parse (payment.ErrMalformedPayload), the replay record in the durable
//     store (a repeat is reported again marked Duplicate; an id reused for
//     another payment is payment.ErrReplay), confirmation by the status
//     query (a notification is never trusted alone: a paid the status API
//     does not back is payment.ErrUnconfirmed), the amount and currency
//     (payment.ErrAmountMismatch), and the event from what the status API
//     says. A notification without an event id gets a replay key derived
//     from its payment and status.
//   - A deadline on every call (Spec.CallTimeout), and an HTTP client with
//     a timeout per attempt and bounded retries with backoff
//     (hashicorp/go-retryablehttp) on safe calls only: reads, and creates
//     that carry an idempotency key the gateway honours. It keeps up to 64
//     idle connections to the gateway (http.DefaultTransport keeps two), so
//     a burst of webhooks does not open a TLS connection per status query.
//
// Optional capabilities: an API that also implements payment.Refunder or
// payment.MethodLister offers them when Spec.APIType names its type; serve
// Gateway.Plugin() then (sdk.Serve(gateway.New(spec).Plugin())). The SDK
// calls them under the call deadline, after the settings are set.
//
// A gateway whose own Go SDK is kept (for its request encoding, retries and
// idempotency keys) builds its HTTP client over Env.Transport, so that its
// attempts are counted and its failures reported like the Client's. A
// gateway ported from a hand-written version sets Spec.Legacy, so that the
// records that version left in the durable store are honoured after an
// upgrade; Spec.IdempotencyTTL and Spec.CreateLease keep how long it
// remembered a key and how it handled a create whose outcome was unknown.
// One with more than one API host, records of its own in the durable store
// (Env.Host), or a create that must wait for a concurrent one with the
// same key uses what ported.go lists.
//
// The payment.Gateway interface is unchanged: a plugin may still implement
// it by hand, and plugins built that way keep building and loading.
package gateway
