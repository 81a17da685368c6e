package ui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
)

// TestAuditTime: each language writes a time its way, with its month's
// name and the zone.
func TestAuditTime(t *testing.T) {
	at := time.Date(2026, 5, 2, 7, 4, 9, 0, time.FixedZone("WIB", 7*3600))
	for lang, want := range map[string]string{"en": "2 May 2026, 07:04:09 WIB", "id": "2 Mei 2026 07.04.09 WIB"} {
		if got := auditTime(lang, at); got != want {
			t.Errorf("%s: %q; want %q", lang, got, want)
		}
	}
	for m := 1; m <= 12; m++ {
		for lang := range catalogs {
			if _, ok := catalogs[lang]["audit.month."+strconv.Itoa(m)]; !ok {
				t.Errorf("%s has no name for month %d", lang, m)
			}
		}
	}
}

// TestAuditTextMessageNamesTheRule: the page's refusal of a long filter
// names the length the search allows, in every language.
func TestAuditTextMessageNamesTheRule(t *testing.T) {
	for lang, msgs := range catalogs {
		if msg := msgs["audit.err.text"]; !strings.Contains(msg, strconv.Itoa(billing.AuditMaxText)) {
			t.Errorf("%s audit.err.text = %q; it must name billing.AuditMaxText (%d)", lang, msg, billing.AuditMaxText)
		}
	}
	// The page words each code of billing.AuditProblem.
	for _, code := range []string{"text", "outcome", "time", "range", "limit", "cursor"} {
		if _, ok := catalogs["en"]["audit.err."+code]; !ok {
			t.Errorf("no message for the audit search problem %q", code)
		}
	}
}
