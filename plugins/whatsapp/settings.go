package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/mikrobill/mikrobill/sdk"
)

// Routing modes (settings.Routing).
const (
	// RoutingSpread spreads messages over the connected sessions, the one
	// that sent least recently first.
	RoutingSpread = "spread"
	// RoutingByLocation sends a customer's messages from their location's
	// session (LocationSessions); another connected session takes over only
	// when that one is logged out or unknown.
	RoutingByLocation = "by_location"
)

// settings are the plugin's settings (config_schema in plugin.json).
type settings struct {
	// MaxSessions is how many sessions may be paired (or pairing) at once,
	// 1 to 20 (default 5; the legacy WHATSAPP_MAX_SESSIONS).
	MaxSessions int `json:"max_sessions"`
	// MessageDelayMS is each session's pause between two messages, in
	// milliseconds (default 1000; the legacy WHATSAPP_MESSAGE_DELAY).
	MessageDelayMS int `json:"message_delay_ms"`
	// JitterPercent adds a random 0 to JitterPercent% of the delay to each
	// pause, 0 to 100 (default 10).
	JitterPercent int `json:"jitter_percent"`
	// DefaultCountry is the region of numbers written without a country
	// code (default "ID": 0812... is +62812...).
	DefaultCountry string `json:"default_country"`
	// Routing is RoutingSpread (default) or RoutingByLocation.
	Routing string `json:"routing"`
	// LocationSessions maps a location (the host's location name) to the
	// session that sends its customers' messages (RoutingByLocation).
	LocationSessions []locationSession `json:"location_sessions"`
	// CheckNumbers asks WhatsApp whether a number has an account before the
	// first message to it (default true); a number without one fails the
	// message at once.
	CheckNumbers bool `json:"check_numbers"`
	// RetryMinMS and RetryMaxMS bound the exponential backoff of a message
	// that could not be sent and of a session's reconnects (defaults 2000
	// and 300000).
	RetryMinMS int `json:"retry_min_ms"`
	RetryMaxMS int `json:"retry_max_ms"`
}

// locationSession is one entry of LocationSessions.
type locationSession struct {
	Location string `json:"location"`
	Session  string `json:"session"`
}

// DefaultSettings are the settings an operator leaves out.
func DefaultSettings() settings {
	return settings{
		MaxSessions:    5,
		MessageDelayMS: 1000,
		JitterPercent:  10,
		DefaultCountry: "ID",
		Routing:        RoutingSpread,
		CheckNumbers:   true,
		RetryMinMS:     2000,
		RetryMaxMS:     300000,
	}
}

// sessionIDPattern is what a session id looks like: a short slug the
// operator chooses, such as "main" or "office-2".
var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// checkSessionID says what is wrong with a session id, wrapping
// sdk.ErrInvalidArgument.
func checkSessionID(id string) error {
	if !sessionIDPattern.MatchString(id) {
		return fmt.Errorf("%w: session id %q: use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit, such as \"main\" or \"office-2\"", sdk.ErrInvalidArgument, id)
	}
	return nil
}

// normalize fills in what a zero value means.
func (s *settings) normalize() {
	s.DefaultCountry = strings.ToUpper(strings.TrimSpace(s.DefaultCountry))
	if s.Routing == "" {
		s.Routing = RoutingSpread
	}
}

// Validate checks the settings, naming every problem.
func (s settings) Validate() error {
	var problems []string
	if s.MaxSessions < 1 || s.MaxSessions > 20 {
		problems = append(problems, fmt.Sprintf("max_sessions is %d; use 1 to 20", s.MaxSessions))
	}
	if s.MessageDelayMS < 0 || s.MessageDelayMS > 600000 {
		problems = append(problems, fmt.Sprintf("message_delay_ms is %d; use 0 to 600000 milliseconds (1000 is one message a second per session)", s.MessageDelayMS))
	}
	if s.JitterPercent < 0 || s.JitterPercent > 100 {
		problems = append(problems, fmt.Sprintf("jitter_percent is %d; use 0 to 100", s.JitterPercent))
	}
	if _, ok := phonenumbers.GetSupportedRegions()[s.DefaultCountry]; !ok {
		problems = append(problems, fmt.Sprintf("default_country %q is not a country code phone numbers know; use an ISO 3166 code such as \"ID\"", s.DefaultCountry))
	}
	if s.Routing != RoutingSpread && s.Routing != RoutingByLocation {
		problems = append(problems, fmt.Sprintf("routing %q: use %q or %q", s.Routing, RoutingSpread, RoutingByLocation))
	}
	seen := map[string]bool{}
	for i, ls := range s.LocationSessions {
		switch {
		case strings.TrimSpace(ls.Location) == "":
			problems = append(problems, fmt.Sprintf("location_sessions[%d]: location is required", i))
		case seen[ls.Location]:
			problems = append(problems, fmt.Sprintf("location_sessions[%d]: location %q is listed twice; give each location one session", i, ls.Location))
		}
		seen[ls.Location] = true
		if err := checkSessionID(ls.Session); err != nil {
			problems = append(problems, fmt.Sprintf("location_sessions[%d]: %s", i, strings.TrimPrefix(err.Error(), sdk.ErrInvalidArgument.Error()+": ")))
		}
	}
	if s.Routing == RoutingByLocation && len(s.LocationSessions) == 0 {
		problems = append(problems, "routing by_location needs location_sessions (a session for each location); without them use routing spread")
	}
	if s.RetryMinMS < 100 || s.RetryMaxMS < s.RetryMinMS {
		problems = append(problems, fmt.Sprintf("retry_min_ms %d and retry_max_ms %d: use at least 100 and a maximum not below the minimum", s.RetryMinMS, s.RetryMaxMS))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: whatsapp settings: %s", sdk.ErrInvalidArgument, strings.Join(problems, "; "))
}

func (s settings) delay() time.Duration { return time.Duration(s.MessageDelayMS) * time.Millisecond }

// sessionOfLocation is the session of a location (RoutingByLocation), or
// "".
func (s settings) sessionOfLocation(location string) string {
	if s.Routing != RoutingByLocation {
		return ""
	}
	for _, ls := range s.LocationSessions {
		if ls.Location == location {
			return ls.Session
		}
	}
	return ""
}

// backoff is the pause before retry number attempt (1 for the first), with
// up to 20% random jitter, within RetryMinMS and RetryMaxMS.
func (s settings) backoff(attempt int, rnd func() float64) time.Duration {
	lo, hi := time.Duration(s.RetryMinMS)*time.Millisecond, time.Duration(s.RetryMaxMS)*time.Millisecond
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d + time.Duration(float64(d)*0.2*rnd())
}
