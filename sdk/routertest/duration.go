package routertest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDuration reads a RouterOS time value in any of the forms RouterOS
// accepts: "1w2d3h4m5s" and its parts ("30m", "1h30m"), bare seconds
// ("90"), clock form ("01:00:00", "1d02:03:04", "1w2d03:04:05"), and
// milliseconds ("500ms", rounded down to whole seconds as RouterOS prints).
func parseDuration(s string) (time.Duration, error) {
	in := s
	if s == "" {
		return 0, fmt.Errorf("empty time value")
	}
	var total time.Duration
	// Clock part: the text after the last letter, when it contains ':'.
	if i := strings.LastIndexAny(s, "wdhms"); strings.Contains(s[i+1:], ":") {
		clock := s[i+1:]
		s = s[:i+1]
		parts := strings.Split(clock, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return 0, fmt.Errorf("bad time value %q", in)
		}
		mult := []time.Duration{time.Hour, time.Minute, time.Second}[3-len(parts):]
		for j, p := range parts {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("bad time value %q", in)
			}
			total += time.Duration(n) * mult[j]
		}
	}
	for s != "" {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("bad time value %q", in)
		}
		n, err := strconv.ParseUint(s[:j], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("bad time value %q", in)
		}
		s = s[j:]
		unit := time.Second
		switch {
		case strings.HasPrefix(s, "ms"):
			unit, s = time.Millisecond, s[2:]
		case s == "":
		case s[0] == 'w':
			unit, s = 7*24*time.Hour, s[1:]
		case s[0] == 'd':
			unit, s = 24*time.Hour, s[1:]
		case s[0] == 'h':
			unit, s = time.Hour, s[1:]
		case s[0] == 'm':
			unit, s = time.Minute, s[1:]
		case s[0] == 's':
			unit, s = time.Second, s[1:]
		default:
			return 0, fmt.Errorf("bad time value %q", in)
		}
		total += time.Duration(n) * unit
	}
	return total.Truncate(time.Second), nil
}

// formatDuration prints a time value as RouterOS 7 does ("1w2d3h4m5s",
// "0s"), or as RouterOS 6 did ("1w2d03:04:05", "00:30:00") when legacy.
func formatDuration(d time.Duration, legacy bool) string {
	secs := int64(d / time.Second)
	w := secs / (7 * 86400)
	secs -= w * 7 * 86400
	days := secs / 86400
	secs -= days * 86400
	h, m, s := secs/3600, secs/60%60, secs%60
	var b strings.Builder
	if w > 0 {
		fmt.Fprintf(&b, "%dw", w)
	}
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if legacy {
		if h+m+s > 0 || b.Len() == 0 {
			fmt.Fprintf(&b, "%02d:%02d:%02d", h, m, s)
		}
		return b.String()
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
