package audit

import (
	"errors"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
)

func TestEventValidate(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		// want are parts of the message, in order; none means valid.
		want []string
	}{
		{name: "full", event: fullEvent},
		{name: "minimal", event: Event{ID: "e", Actor: "system", Action: "host.start"}},
		{name: "failure", event: Event{ID: "e", Actor: "system", Action: "host.start", Outcome: OutcomeFailure}},

		{name: "no id", event: Event{Actor: "system", Action: "host.start"}, want: []string{"id is required"}},
		{name: "blank actor", event: Event{ID: "e", Actor: " ", Action: "host.start"}, want: []string{`audit event "e"`, "actor is required"}},
		{name: "no action", event: Event{ID: "e", Actor: "system"}, want: []string{"action is required"}},
		{name: "other outcome", event: Event{ID: "e", Actor: "system", Action: "a", Outcome: "denied"},
			want: []string{`outcome must be "success", "failure" or empty, got "denied"`}},
		{name: "outcome in upper case", event: Event{ID: "e", Actor: "system", Action: "a", Outcome: "SUCCESS"},
			want: []string{`got "SUCCESS"`}},
		{name: "everything wrong at once", event: Event{Outcome: "ok"},
			want: []string{"id is required", "; actor is required", "; action is required", "; outcome must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.event.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Validate() = %q, want it to contain %q (in this order: %q)", msg, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("Validate() = %v, want it to match sdk.ErrInvalidArgument", err)
			}
		})
	}
}
