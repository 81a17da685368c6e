package router

import (
	"fmt"
	"strconv"
	"strings"
)

// rateLimitExample is shown in every rate-limit error.
const rateLimitExample = `"2M/4M" or "512k/1M 1M/2M 384k/768k 16/16 8 256k/512k"`

// rateLimitParts names the space-separated parts of a rate limit, in order.
var rateLimitParts = []struct {
	name  string
	check func(string) string
	pair  bool
}{
	{"rx/tx", checkRate, true},
	{"burst-rx/burst-tx", checkRate, true},
	{"threshold-rx/threshold-tx", checkRate, true},
	{"time-rx/time-tx", checkSeconds, true},
	{"priority", checkPriority, false},
	{"min-rx/min-tx", checkRate, true},
}

// ValidateRateLimit checks that s is RouterOS rate-limit syntax:
//
//	rx[/tx] [burst-rx[/burst-tx] [threshold-rx[/threshold-tx] [time-rx[/time-tx] [priority [min-rx[/min-tx]]]]]]
//
// Rates are whole numbers of bits per second with an optional k, K, M or G
// suffix ("512k", "2M"); times are whole seconds with an optional "s"
// ("16", "16s"); priority is 1 to 8. Parts are separated by single spaces.
// The empty string is valid and means no limit.
//
// It checks syntax only, not whether the values make sense together. The
// error wraps ErrInvalidRateLimit, says what is wrong and shows a valid
// example.
func ValidateRateLimit(s string) error {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, " ")
	if len(parts) > len(rateLimitParts) {
		return rateLimitError(s, "%d parts, at most %d are allowed (rx/tx, burst, threshold, time, priority, min)", len(parts), len(rateLimitParts))
	}
	for i, p := range parts {
		part := rateLimitParts[i]
		if p == "" {
			return rateLimitError(s, "empty part; separate the parts with single spaces, with none at the start or end")
		}
		values := []string{p}
		if part.pair {
			values = strings.Split(p, "/")
			if len(values) > 2 {
				return rateLimitError(s, "%s %q has more than one \"/\"", part.name, p)
			}
		}
		for _, v := range values {
			if problem := part.check(v); problem != "" {
				return rateLimitError(s, "%s: %s", part.name, problem)
			}
		}
	}
	return nil
}

func rateLimitError(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s; a valid rate limit looks like %s", ErrInvalidRateLimit, s, fmt.Sprintf(format, args...), rateLimitExample)
}

// checkRate returns what is wrong with a rate, or "".
func checkRate(v string) string {
	digits := strings.TrimRight(v, "kKMG")
	if len(v)-len(digits) > 1 || !allDigits(digits) {
		return fmt.Sprintf("%q is not a rate: write digits with an optional k, K, M or G suffix, such as 512k or 2M", v)
	}
	return ""
}

// checkSeconds returns what is wrong with a burst time, or "".
func checkSeconds(v string) string {
	if !allDigits(strings.TrimSuffix(v, "s")) {
		return fmt.Sprintf("%q is not a time: write whole seconds with an optional s, such as 16 or 16s", v)
	}
	return ""
}

// checkPriority returns what is wrong with a priority, or "".
func checkPriority(v string) string {
	if !allDigits(v) {
		return fmt.Sprintf("%q is not a priority: write one number from 1 to 8", v)
	}
	if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 8 {
		return fmt.Sprintf("priority must be from 1 to 8, got %s", v)
	}
	return ""
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
