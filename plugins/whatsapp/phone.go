package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/mikrobill/mikrobill/sdk/notify"
)

// NormalizePhone turns a phone number as people write it into WhatsApp's
// form: the country code and the number, digits only, no "+"
// ("0812-3456-7890" in Indonesia is "6281234567890"). It accepts E.164
// ("+6281234567890"), the international form without "+" ("62812..."),
// "00" for the international prefix, and a local number with its leading
// 0, which belongs to region (an ISO 3166 code such as "ID"). Spaces,
// dashes, dots and brackets are ignored. A number that cannot be a valid
// number of its country is an error wrapping notify.ErrInvalidRecipient.
func NormalizePhone(raw, region string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: phone %q %s; write it as +<country code><number>, for example +6281234567890", notify.ErrInvalidRecipient, raw, why)
	}
	var b strings.Builder
	plus := false
	for i, c := range strings.TrimSpace(raw) {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && i == 0:
			plus = true
		case strings.ContainsRune(" -.()/\u00a0", c):
		default:
			return "", bad(fmt.Sprintf("has %q, which is not a digit", c))
		}
	}
	digits := b.String()
	if digits == "" {
		return "", bad("has no digits")
	}
	if d, ok := strings.CutPrefix(digits, "00"); ok && !plus {
		digits, plus = d, true
	}
	var candidates []string
	switch {
	case plus:
		candidates = []string{"+" + digits}
	case strings.HasPrefix(digits, "0"):
		candidates = []string{digits}
	case strings.HasPrefix(digits, strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))):
		// "62812...": most likely international without "+".
		candidates = []string{"+" + digits, digits}
	default:
		// "812...": most likely a local number without its 0.
		candidates = []string{digits, "+" + digits}
	}
	for _, c := range candidates {
		n, err := phonenumbers.Parse(c, region)
		if err != nil || !phonenumbers.IsValidNumber(n) {
			continue
		}
		return strconv.Itoa(int(n.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(n), nil
	}
	if len(digits) < 7 {
		return "", bad("is too short")
	}
	if len(digits) > 15 {
		return "", bad("is too long")
	}
	if !plus && !strings.HasPrefix(digits, "0") && region != "" {
		return "", bad(fmt.Sprintf("is not a valid number, neither international nor local to %s", region))
	}
	return "", bad("is not a valid number of its country")
}
