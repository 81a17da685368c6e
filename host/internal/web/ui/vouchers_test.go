package ui

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// TestVoucherMessagesNameTheRules: the generate form's refusals name the
// limits the store really has, in every language.
func TestVoucherMessagesNameTheRules(t *testing.T) {
	for lang, msgs := range catalogs {
		if msg := msgs["vouchers.err.count"]; !strings.Contains(msg, strconv.Itoa(store.MaxVoucherBatch)) {
			t.Errorf("%s vouchers.err.count = %q; it must name store.MaxVoucherBatch (%d)", lang, msg, store.MaxVoucherBatch)
		}
		if msg := msgs["vouchers.err.prefix"]; !strings.Contains(msg, strconv.Itoa(store.MaxVoucherPrefix)) {
			t.Errorf("%s vouchers.err.prefix = %q; it must name store.MaxVoucherPrefix (%d)", lang, msg, store.MaxVoucherPrefix)
		}
	}
}
