package sdk_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
)

// gatewaySettings is a plugin's settings type, as authors write them.
type gatewaySettings struct {
	ServerKey string `json:"server_key"`
	Sandbox   bool   `json:"sandbox"`
	Port      int    `json:"port"`
	Tags      []string
	Limits    struct {
		PerMinute int `json:"per_minute"`
	} `json:"limits"`
}

func defaultGatewaySettings() gatewaySettings {
	s := gatewaySettings{ServerKey: "unset", Sandbox: true, Port: 443}
	s.Limits.PerMinute = 60
	return s
}

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		// want is the decoded value when wantErr is empty.
		want func(s *gatewaySettings)
		// wantErr is the whole message.
		wantErr string
	}{
		{name: "empty leaves defaults", settings: ""},
		{name: "blank leaves defaults", settings: " \n\t"},
		{name: "null leaves defaults", settings: "null"},
		{name: "padded null leaves defaults", settings: "  null\n"},
		{name: "empty object leaves defaults", settings: "{}"},
		{name: "fields set", settings: `{"server_key":"SB-Mid-server-x","sandbox":false,"port":8443,"Tags":["a","b"],"limits":{"per_minute":5}}`,
			want: func(s *gatewaySettings) {
				s.ServerKey, s.Sandbox, s.Port, s.Tags = "SB-Mid-server-x", false, 8443, []string{"a", "b"}
				s.Limits.PerMinute = 5
			}},
		{name: "some fields set keep the other defaults", settings: `{"port":80}`,
			want: func(s *gatewaySettings) { s.Port = 80 }},
		{name: "trailing newline", settings: "{\"port\":80}\n",
			want: func(s *gatewaySettings) { s.Port = 80 }},

		{name: "unknown field", settings: `{"server_key":"k","sandbx":true}`,
			wantErr: `invalid argument: settings: unknown field "sandbx"; check the plugin's config_schema for the fields it takes`},
		{name: "unknown nested field", settings: `{"limits":{"per_hour":1}}`,
			wantErr: `invalid argument: settings: unknown field "per_hour"; check the plugin's config_schema for the fields it takes`},
		{name: "wrong type", settings: `{"port":"8443"}`,
			wantErr: `invalid argument: settings: field "port": expected int, got a JSON string`},
		{name: "wrong type nested", settings: `{"limits":{"per_minute":true}}`,
			wantErr: `invalid argument: settings: field "limits.per_minute": expected int, got a JSON bool`},
		{name: "wrong element type", settings: `{"Tags":[1]}`,
			wantErr: `invalid argument: settings: field "Tags": expected string, got a JSON number`},
		{name: "fraction for an int", settings: `{"port":1.5}`,
			wantErr: `invalid argument: settings: field "port": expected int, got a JSON number 1.5`},
		{name: "not an object", settings: `["a"]`,
			wantErr: `invalid argument: settings: expected sdk_test.gatewaySettings, got a JSON array`},
		{name: "trailing object", settings: `{"port":80} {"port":81}`,
			wantErr: `invalid argument: settings: unexpected data after the JSON object`},
		{name: "trailing garbage", settings: `{"port":80} x`,
			wantErr: `invalid argument: settings: unexpected data after the JSON object`},
		{name: "syntax error", settings: `{"port": 80,}`,
			wantErr: `invalid argument: settings: not valid JSON at byte 13: invalid character '}' looking for beginning of object key string`},
		{name: "bad value", settings: `{"port": x}`,
			wantErr: `invalid argument: settings: not valid JSON at byte 10: invalid character 'x' looking for beginning of value`},
		{name: "cut short", settings: `{"port":`,
			wantErr: `invalid argument: settings: unexpected EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaultGatewaySettings()
			err := sdk.DecodeConfig(json.RawMessage(tt.settings), &got)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("DecodeConfig(%s) = nil, want %q", tt.settings, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("DecodeConfig(%s) =\n  %q\nwant\n  %q", tt.settings, err, tt.wantErr)
				}
				if !errors.Is(err, sdk.ErrInvalidArgument) {
					t.Errorf("DecodeConfig(%s) = %v, want it to match sdk.ErrInvalidArgument", tt.settings, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeConfig(%s) = %v, want nil", tt.settings, err)
			}
			want := defaultGatewaySettings()
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DecodeConfig(%s) (-want +got):\n%s", tt.settings, diff)
			}
		})
	}
}
