package gateway

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BenchmarkClientBurst: 16 calls at once against a gateway over TLS, as a
// burst of webhooks confirms its notifications, through the Client's own
// connection pool and through http.DefaultTransport's settings (2 idle
// connections a host). One op is one round of 16 calls.
func BenchmarkClientBurst(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"p1","status":"paid"}`)
	}))
	// Connections DefaultTransport's settings close while the server reads
	// them would each log a handshake error.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	trust := srv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, c := range []struct {
		name      string
		transport func() *http.Transport
	}{
		{"pool", newTransport},
		{"default-transport", func() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := c.transport()
			tr.TLSClientConfig = trust.Clone()
			b.Cleanup(tr.CloseIdleConnections)
			cl := newClient(ClientConfig{Name: "Test Pay"}, srv.URL, 10*time.Second, slog.New(slog.DiscardHandler), nil)
			cl.retrying.HTTPClient.Transport = tr
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						if _, err := cl.Get(context.Background(), "/payments/p1", nil); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
		})
	}
}
