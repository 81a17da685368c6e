package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
)

// CheckHealth implements sdk.Plugin: ok when every paired session is
// connected (at least one), degraded when some are not or none is paired,
// each session's state in the details.
func (p *Plugin) CheckHealth(ctx context.Context, _ *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	if err := p.ready(); err != nil {
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "not configured yet"}, nil
	}
	states := map[string]any{}
	var connected, paired int
	var down []string
	for _, s := range p.sessionList() {
		st, keys := s.state()
		states[s.id] = string(st)
		if st == notify.SessionStatusConnected {
			connected++
		}
		if keys {
			paired++
			if st != notify.SessionStatusConnected {
				down = append(down, fmt.Sprintf("%s (%s)", s.id, st))
			}
		}
	}
	details := map[string]any{"sessions": states, "connected": connected}
	if counts, err := p.store.countByStatus(ctx); err == nil {
		details["queued"] = counts[notify.DeliveryStatusQueued]
	}
	switch {
	case paired == 0:
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "no WhatsApp session is paired: pair a session on the Messaging page; messages wait until then", Details: details}, nil
	case connected == 0:
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: "no WhatsApp session is connected (reconnecting: " + strings.Join(down, ", ") + "); messages wait", Details: details}, nil
	case len(down) > 0:
		return &sdk.CheckHealthResponse{Status: sdk.HealthDegraded, Message: fmt.Sprintf("%d of %d sessions connected; not connected: %s", connected, paired, strings.Join(down, ", ")), Details: details}, nil
	}
	return &sdk.CheckHealthResponse{Status: sdk.HealthOK, Message: fmt.Sprintf("%d sessions connected", connected), Details: details}, nil
}

// CollectMetrics implements sdk.Plugin.
func (p *Plugin) CollectMetrics(ctx context.Context, _ *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	var b bytes.Buffer
	if p.ready() == nil {
		counts, err := p.store.countByStatus(ctx)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "# HELP whatsapp_queue_depth Messages waiting in the queue.\n# TYPE whatsapp_queue_depth gauge\nwhatsapp_queue_depth %d\n", counts[notify.DeliveryStatusQueued])
		b.WriteString("# HELP whatsapp_messages Messages in the queue's database, by status.\n# TYPE whatsapp_messages gauge\n")
		for _, st := range []notify.DeliveryStatus{notify.DeliveryStatusQueued, notify.DeliveryStatusSent, notify.DeliveryStatusDelivered, notify.DeliveryStatusRead, notify.DeliveryStatusFailed} {
			fmt.Fprintf(&b, "whatsapp_messages{status=%q} %d\n", st, counts[st])
		}
		byState := map[notify.SessionStatus]int{}
		for _, s := range p.sessionList() {
			st, _ := s.state()
			byState[st]++
		}
		b.WriteString("# HELP whatsapp_sessions Sender sessions, by state.\n# TYPE whatsapp_sessions gauge\n")
		for _, st := range []notify.SessionStatus{notify.SessionStatusConnected, notify.SessionStatusConnecting, notify.SessionStatusPairing, notify.SessionStatusDisconnected, notify.SessionStatusLoggedOut} {
			fmt.Fprintf(&b, "whatsapp_sessions{state=%q} %d\n", st, byState[st])
		}
	}
	p.stats.write(&b)
	return &sdk.CollectMetricsResponse{Text: b.Bytes()}, nil
}

// sendBuckets are the send latency histogram's upper bounds, in seconds.
var sendBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// stats holds the plugin's counters and the send latency histogram.
type stats struct {
	queued   *sdk.Counters
	attempts *sdk.Counters
	receipts *sdk.Counters

	mu      sync.Mutex
	buckets []uint64
	count   uint64
	sum     float64
}

func newStats() *stats {
	return &stats{
		queued:   sdk.NewCounters("whatsapp_messages_queued_total", "Messages accepted by Send (repeats of an idempotency key not counted)."),
		attempts: sdk.NewCounters("whatsapp_send_attempts_total", "Attempts to send a message, by result (sent, retry, failed).", "result"),
		receipts: sdk.NewCounters("whatsapp_receipts_total", "Receipts received, by kind (delivered, read, failed).", "kind"),
		buckets:  make([]uint64, len(sendBuckets)),
	}
}

func (s *stats) observeSend(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := d.Seconds()
	i := sort.SearchFloat64s(sendBuckets, v)
	for ; i < len(sendBuckets); i++ {
		s.buckets[i]++
	}
	s.count++
	s.sum += v
}

func (s *stats) write(b *bytes.Buffer) {
	s.queued.WriteText(b)
	s.attempts.WriteText(b)
	s.receipts.WriteText(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	b.WriteString("# HELP whatsapp_send_seconds Time WhatsApp took to accept a message.\n# TYPE whatsapp_send_seconds histogram\n")
	for i, le := range sendBuckets {
		fmt.Fprintf(b, "whatsapp_send_seconds_bucket{le=\"%g\"} %d\n", le, s.buckets[i])
	}
	fmt.Fprintf(b, "whatsapp_send_seconds_bucket{le=\"+Inf\"} %d\nwhatsapp_send_seconds_sum %g\nwhatsapp_send_seconds_count %d\n", s.count, s.sum, s.count)
}
