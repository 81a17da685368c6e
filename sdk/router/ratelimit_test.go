package router

import (
	"errors"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
)

func TestValidateRateLimit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// wantErr is a part of the message; empty means valid.
		wantErr string
	}{
		{name: "empty means no limit", in: ""},
		{name: "rx only", in: "2M"},
		{name: "rx/tx", in: "2M/4M"},
		{name: "plain bits", in: "512000/1024000"},
		{name: "all suffixes", in: "1k/1K 1M/1G"},
		{name: "zero", in: "0/0"},
		{name: "full", in: "512k/1M 1M/2M 384k/768k 16/16 8 256k/512k"},
		{name: "times with s", in: "1M/2M 2M/4M 768k/1536k 10s/20s"},
		{name: "single burst values", in: "1M 2M 768k 10 1"},
		{name: "priority 1", in: "1M/2M 0/0 0/0 0/0 1"},

		{name: "unknown suffix", in: "2X/4M", wantErr: `rx/tx: "2X" is not a rate`},
		{name: "lower m", in: "2m/4M", wantErr: `"2m" is not a rate`},
		{name: "double suffix", in: "2kk/4M", wantErr: `"2kk" is not a rate`},
		{name: "decimal", in: "1.5M/3M", wantErr: `"1.5M" is not a rate`},
		{name: "negative", in: "-1/2M", wantErr: `"-1" is not a rate`},
		{name: "suffix only", in: "M/4M", wantErr: `"M" is not a rate`},
		{name: "missing tx", in: "2M/", wantErr: `"" is not a rate`},
		{name: "bits per second unit", in: "2Mbps/4Mbps", wantErr: `"2Mbps" is not a rate`},
		{name: "three sides", in: "1M/2M/3M", wantErr: `rx/tx "1M/2M/3M" has more than one "/"`},
		{name: "bad burst", in: "1M/2M 2M/x", wantErr: `burst-rx/burst-tx: "x" is not a rate`},
		{name: "bad threshold", in: "1M/2M 2M/4M 1.5M/3M", wantErr: `threshold-rx/threshold-tx: "1.5M" is not a rate`},
		{name: "time with minutes", in: "1M/2M 2M/4M 768k/1536k 1m/1m", wantErr: `time-rx/time-tx: "1m" is not a time`},
		{name: "time with suffix rate", in: "1M/2M 2M/4M 768k/1536k 10k/10", wantErr: `"10k" is not a time`},
		{name: "priority zero", in: "1M/2M 0/0 0/0 0/0 0", wantErr: "priority must be from 1 to 8, got 0"},
		{name: "priority nine", in: "1M/2M 0/0 0/0 0/0 9", wantErr: "priority must be from 1 to 8, got 9"},
		{name: "priority pair", in: "1M/2M 0/0 0/0 0/0 8/8", wantErr: `"8/8" is not a priority`},
		{name: "bad min", in: "1M/2M 0/0 0/0 0/0 8 1M/y", wantErr: `min-rx/min-tx: "y" is not a rate`},
		{name: "too many parts", in: "1M/2M 0/0 0/0 0/0 8 1M/2M 3", wantErr: "7 parts, at most 6 are allowed"},
		{name: "double space", in: "1M/2M  2M/4M", wantErr: "empty part; separate the parts with single spaces"},
		{name: "leading space", in: " 1M/2M", wantErr: "empty part"},
		{name: "trailing space", in: "1M/2M ", wantErr: "empty part"},
		{name: "tab", in: "1M/2M\t2M/4M", wantErr: `has more than one "/"`},
		{name: "tab single", in: "1M\t2M", wantErr: `"1M\t2M" is not a rate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRateLimit(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateRateLimit(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateRateLimit(%q) = nil, want an error containing %q", tt.in, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("ValidateRateLimit(%q) = %q, want it to contain %q", tt.in, msg, tt.wantErr)
			}
			if !strings.Contains(msg, rateLimitExample) {
				t.Errorf("ValidateRateLimit(%q) = %q, want it to show the example %s", tt.in, msg, rateLimitExample)
			}
			if !errors.Is(err, ErrInvalidRateLimit) || !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("ValidateRateLimit(%q) = %v, want it to match ErrInvalidRateLimit and sdk.ErrInvalidArgument", tt.in, err)
			}
		})
	}
}
