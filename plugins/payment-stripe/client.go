package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// newStripeClient builds a stripe-go client for cfg: its own backend (never
// stripe-go's package globals), the base URL override, an HTTP client over
// tr (the SDK's Transport: each attempt bounded by timeout_seconds, counted
// in the plugin's metrics, its failures reported by CheckHealth), bounded
// retries and a logger that goes to the plugin's log (stderr), never to
// stdout.
//
// stripe-go (v85) retries a request only when no answer came (a connection
// failure or timeout) or Stripe answered 429 lock_timeout; an answer with a
// Stripe error (a 5xx included) is returned as it is. Every attempt carries
// the same Idempotency-Key: POSTs the caller's key (CreatePayment, Refund),
// GETs need none. Between attempts it sleeps 0.5 s to 5 s without watching
// the context, so retries are kept few (max_network_retries, 1 by default);
// it does not retry once the context is done.
func newStripeClient(cfg settings, tr http.RoundTripper, log *slog.Logger) *stripe.Client {
	bc := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Transport: tr},
		LeveledLogger:     &stripeLogger{log: log.With("component", "stripe-go"), secrets: cfg.secrets()},
		MaxNetworkRetries: stripe.Int64(int64(cfg.retries())),
		EnableTelemetry:   stripe.Bool(false),
	}
	if cfg.APIBaseURL != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.APIBaseURL, "/"))
	}
	return stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))
}

// stripeLogger sends stripe-go's log lines to the plugin's logger, one level
// down (stripe-go logs every 4xx as an error; the plugin returns those as
// errors anyway), drops its debug lines (they hold whole response bodies) and
// redacts anything that looks like a key.
type stripeLogger struct {
	log     *slog.Logger
	secrets []string
}

var _ stripe.LeveledLoggerInterface = (*stripeLogger)(nil)

func (l *stripeLogger) Debugf(string, ...any) {}

func (l *stripeLogger) Infof(format string, v ...any) {
	l.log.Debug(redact(fmt.Sprintf(format, v...), l.secrets))
}

func (l *stripeLogger) Warnf(format string, v ...any) {
	l.log.Info(redact(fmt.Sprintf(format, v...), l.secrets))
}

func (l *stripeLogger) Errorf(format string, v ...any) {
	l.log.Debug(redact(fmt.Sprintf(format, v...), l.secrets))
}

// keyPattern matches Stripe secret, restricted and webhook signing keys.
var keyPattern = regexp.MustCompile(`\b(sk|rk|whsec)_[A-Za-z0-9_]{4,}`)

// redact removes secrets and anything shaped like a Stripe key from s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return keyPattern.ReplaceAllString(s, "${1}_[redacted]")
}

// maxRetrySleep is stripe-go's longest pause between two attempts.
const maxRetrySleep = 5 * time.Second

// callContext bounds one API call, all its attempts and the pauses between
// them, as well as the caller's context does.
func callContext(ctx context.Context, cfg settings) (context.Context, context.CancelFunc) {
	n := time.Duration(cfg.retries())
	return context.WithTimeout(ctx, cfg.timeout()*(n+1)+maxRetrySleep*n)
}

// apiError turns an error from stripe-go into an error wrapping the SDK's
// sentinels. parent is the caller's context: when it is done, its error is
// returned, so the host sees a cancellation or deadline as such. op says what
// was being done ("create checkout session").
func apiError(parent context.Context, op string, err error, secrets []string) error {
	if cerr := parent.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %s: Stripe did not answer in time; try again later", sdk.ErrUnavailable, op)
		}
		return fmt.Errorf("%w: %s: cannot reach Stripe (%s); try again later", sdk.ErrUnavailable, op, redact(err.Error(), secrets))
	}
	msg := redact(se.Msg, secrets)
	if se.RequestID != "" {
		msg += " (request " + se.RequestID + ")"
	}
	switch {
	case se.Code == stripe.ErrorCodeResourceMissing:
		return fmt.Errorf("%w: %s: %s", payment.ErrUnknownOrder, op, msg)
	case se.HTTPStatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s: Stripe refused the secret key: %s; check secret_key in the plugin's settings", sdk.ErrFailedPrecondition, op, msg)
	case se.HTTPStatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s: the key may not do this: %s; give the restricted key write access to Checkout Sessions and Refunds, or use the secret key", sdk.ErrFailedPrecondition, op, msg)
	case se.HTTPStatusCode == http.StatusTooManyRequests || se.Type == stripe.ErrorTypeRateLimit:
		return fmt.Errorf("%w: %s: %s", sdk.ErrRateLimited, op, msg)
	case se.Type == stripe.ErrorTypeIdempotency:
		return fmt.Errorf("%w: %s: the idempotency key was used before with other parameters: %s; use a new key for a different payment", sdk.ErrInvalidArgument, op, msg)
	case se.Type == stripe.ErrorTypeCard:
		return fmt.Errorf("%w: %s: %s", payment.ErrDeclined, op, msg)
	case se.Code == stripe.ErrorCodeAmountTooSmall || se.Code == stripe.ErrorCodeAmountTooLarge:
		return fmt.Errorf("%w: %s: %s", sdk.ErrInvalidArgument, op, msg)
	case strings.Contains(se.Param, "currency"):
		return fmt.Errorf("%w: %s: %s", payment.ErrUnsupportedCurrency, op, msg)
	case se.HTTPStatusCode == http.StatusConflict:
		return fmt.Errorf("%w: %s: %s", sdk.ErrConflict, op, msg)
	case se.HTTPStatusCode == http.StatusPaymentRequired:
		return fmt.Errorf("%w: %s: %s", payment.ErrDeclined, op, msg)
	case se.HTTPStatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s: %s", sdk.ErrNotFound, op, msg)
	case se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500:
		return fmt.Errorf("%w: %s: Stripe refused the request: %s", sdk.ErrInvalidArgument, op, msg)
	default:
		return fmt.Errorf("%w: %s: Stripe failed (%d): %s; try again later", sdk.ErrUnavailable, op, se.HTTPStatusCode, msg)
	}
}
