package manifest_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk"
)

// want is an expected problem: the exact field and a substring of the
// message.
type want struct {
	Field   string
	Message string
}

// problemsOf returns the problems in err, which must be a
// *manifest.ValidationError for file (or nil).
func problemsOf(t *testing.T, file string, err error) []manifest.Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var verr *manifest.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T, want *manifest.ValidationError: %v", err, err)
	}
	if verr.File != file {
		t.Errorf("ValidationError.File = %q, want %q", verr.File, file)
	}
	for _, p := range verr.Problems {
		if p.File != file {
			t.Errorf("problem %q: File = %q, want %q", p, p.File, file)
		}
	}
	return verr.Problems
}

// diffProblems compares problems with wants: same count and order, equal
// fields, and each message containing the wanted substring. On a mismatch
// the diff shows the full message.
func diffProblems(wants []want, got []manifest.Problem) string {
	norm := make([]want, len(got))
	for i, p := range got {
		norm[i] = want{Field: p.Field, Message: p.Message}
		if i < len(wants) && p.Field == wants[i].Field && strings.Contains(p.Message, wants[i].Message) {
			norm[i].Message = wants[i].Message
		}
	}
	return cmp.Diff(wants, norm, cmpopts.EquateEmpty())
}

func TestParse(t *testing.T) {
	tests := []struct {
		file string
		want []want
	}{
		{file: "valid-minimal.json"},
		{file: "valid-full.json"},
		{file: "unknown-field.json", want: []want{
			{"colour", `unknown field "colour"; the known fields are name, version, kind`},
			{"minHostVersion", `unknown field "minHostVersion"; did you mean "min_host_version"?`},
			{"requierd", `unknown field "requierd"; did you mean "required"?`},
			{"dependencies[0].verison", `unknown field "verison"; did you mean "version"?`},
		}},
		{file: "wrong-types.json", want: []want{
			{"version", "must be a string, got number"},
			{"kind", "must be a string, got array"},
			{"protocol_versions", "must be a list, got string"},
			{"dependencies[0]", `must be a name such as "audit" or an object`},
			{"dependencies[1].name", "must be a string, got boolean"},
			{"environment", "got number"},
			{"required", `must be true, false, or the environments the plugin is required in ("production", or a list such as ["staging", "production"]); got "yes"`},
			{"priority", "must be a whole number, got 1.5"},
			{"routes", "must be a list, got object"},
			{"events[1]", "must be a string, got number"},
		}},
		{file: "bad-semver.json", want: []want{
			{"version", `"1.2" is not a semantic version`},
			{"min_host_version", `"v2.0.0" is not a semantic version`},
		}},
		{file: "bad-constraint.json", want: []want{
			{"dependencies[1].version", `"about two" is not a version constraint`},
		}},
		{file: "both-executables.json", want: []want{
			{"executable", `set either "executable" or "executables", not both`},
		}},
		{file: "absolute-executable.json", want: []want{
			{"executable", `"/usr/local/bin/mikrobill-plugin-audit" is absolute; give the path relative to the plugin folder`},
		}},
		{file: "dotdot-executable.json", want: []want{
			{"executables.linux-amd64", `".." is not allowed`},
			{"executables.linux_x86_64", `"linux_x86_64" is not a platform; did you mean "linux-amd64"?`},
		}},
		{file: "bad-environment.json", want: []want{
			{"environment", `"prod" is not "all", "development" or "production"; for other environments write a list: ["prod"]`},
		}},
		{file: "bad-environment-list.json", want: []want{
			{"environment[1]", "must not be empty"},
			{"environment[2]", `"all" cannot be part of a list`},
			{"environment[3]", `"staging" is listed twice`},
		}},
		{file: "duplicate-dependency.json", want: []want{
			{"dependencies[2]", `"audit" is listed twice (also dependencies[0])`},
		}},
		{file: "self-dependency.json", want: []want{
			{"dependencies[1]", "a plugin cannot depend on itself"},
		}},
		{file: "reserved-name.json", want: []want{
			{"name", `"database" is reserved for the host`},
		}},
		{file: "bad-name.json", want: []want{
			{"name", `"Payment_Midtrans" is not a valid plugin name`},
			{"kind", `"payments" is not a plugin kind (did you mean "payment"?)`},
		}},
		{file: "bad-route.json", want: []want{
			{"routes[1].method", `must be uppercase: "GET"`},
			{"routes[1].path", `"status" must start with "/"`},
			{"routes[1].auth", `"root" is not an access level`},
			{"routes[2]", "GET /sessions/{session} is declared twice (also routes[0])"},
			{"routes[3].path", `must not contain ".."`},
			{"routes[4].path", `"/pair/{id" has a "{" without its "}"`},
			{"routes[5].role", `unknown field "role"`},
		}},
		{file: "bad-events.json", want: []want{
			{"events[3]", `to receive every "invoice" event write "invoice.*"`},
			{"events[4]", `"Invoice.Paid" is not an event type`},
			{"events[5]", `"invoice.*.paid" is not an event type`},
			{"events[6]", "must not be empty"},
			{"events[7]", `"invoice.paid" is listed twice`},
		}},
		{file: "bad-config-schema.json", want: []want{
			{"config_schema", "is not a valid JSON Schema: at /properties/api_key/type: value must be one of"},
			{"config_schema", "is not a valid JSON Schema: at /properties/timeout/minimum: got string, want number"},
		}},
		{file: "config-schema-ref.json", want: []want{
			{"config_schema", "refers to file:///etc/passwd; a config_schema must be self-contained"},
		}},
		{file: "config-schema-not-object.json", want: []want{
			{"config_schema", `the top-level "type" must be "object"`},
		}},
		{file: "two-mistakes.json", want: []want{
			{"requierd", `unknown field "requierd"; did you mean "required"?`},
			{"dependencies[1].version", `">= one" is not a version constraint`},
		}},
		{file: "protocol-versions.json", want: []want{
			{"protocol_versions[1]", "must be a positive protocol version, got 0"},
			{"protocol_versions[2]", "protocol version 1 is listed twice"},
			{"protocol_versions[3]", "must be a positive protocol version, got -2"},
		}},
		{file: "missing-required.json", want: []want{
			{"name", "is required"},
			{"version", "is required"},
			{"kind", "is required"},
			{"protocol_versions", "is required"},
		}},
		{file: "duplicate-key.json", want: []want{
			{"version", "is set more than once"},
		}},
		{file: "priority-range.json", want: []want{
			{"priority", "must be between 0 and 1000 (lower loads first), got 5000"},
		}},
		{file: "singleton-not-bool.json", want: []want{
			{"singleton", `must be true or false, got string`},
		}},
		{file: "singleton-queue-name.json", want: []want{
			{"singleton", `"whats--app-" has two '-' in a row or ends in '-': rename it (such as "whats-app") or drop "singleton"`},
		}},
		{file: "singleton-long-name.json", want: []want{
			{"singleton", `a singleton plugin's name is at most 54 characters`},
		}},
		{file: "invalid-json.json", want: []want{
			{"", "is not valid JSON: invalid character '}' looking for beginning of object key string (line 4, column 2)"},
		}},
		{file: "not-object.json", want: []want{{"", "must be a JSON object, got array"}}},
		{file: "empty.json", want: []want{{"", "file is empty"}}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			file := filepath.Join("testdata", "parse", tt.file)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Parse(file, data)
			if diff := diffProblems(tt.want, problemsOf(t, file, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if err == nil && m == nil {
				t.Error("Parse returned neither a manifest nor an error")
			}
			if m != nil && m.File != file {
				t.Errorf("File = %q, want %q", m.File, file)
			}
		})
	}
}

func TestParseValidFull(t *testing.T) {
	m := mustParse(t, "valid-full.json")
	no := false
	wantM := &manifest.Manifest{
		Name:        "payment-midtrans",
		Version:     "1.2.0",
		Kind:        sdk.KindPayment,
		Description: "Midtrans Snap payments (QRIS, e-wallets, virtual accounts).",
		Executables: map[string]string{
			"linux-amd64":  "bin/linux-amd64/mikrobill-plugin-payment-midtrans",
			"linux-arm64":  "bin/linux-arm64/mikrobill-plugin-payment-midtrans",
			"darwin-arm64": "bin/darwin-arm64/mikrobill-plugin-payment-midtrans",
		},
		ProtocolVersions: []int{1},
		MinHostVersion:   "1.0.0",
		Dependencies: []manifest.Dependency{
			{Name: "database"},
			{Name: "audit", Version: ">=1.0.0, <2.0.0"},
		},
		Environment: manifest.Environment{"staging", "production"},
		Required:    &no,
		Priority:    50,
		Singleton:   true,
		Routes: []manifest.Route{
			{Method: "GET", Path: "/status", Auth: manifest.AuthOperator},
			{Method: "GET", Path: "/payments/{id}", Auth: manifest.AuthViewer},
			{Method: "POST", Path: "/refunds", Auth: manifest.AuthAdmin},
		},
		Events: []string{"invoice.paid", "customer.*"},
		File:   filepath.Join("testdata", "parse", "valid-full.json"),
	}
	if diff := cmp.Diff(wantM, m, cmpopts.IgnoreFields(manifest.Manifest{}, "ConfigSchema")); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if !json.Valid(m.ConfigSchema) || !strings.Contains(string(m.ConfigSchema), `"server_key"`) {
		t.Errorf("ConfigSchema = %s, want the schema from the file", m.ConfigSchema)
	}
}

func TestParseDefaults(t *testing.T) {
	m := mustParse(t, "valid-minimal.json")
	if m.Priority != manifest.DefaultPriority {
		t.Errorf("Priority = %d, want %d", m.Priority, manifest.DefaultPriority)
	}
	if !m.IsRequired() {
		t.Error("IsRequired() = false, want true by default")
	}
	if m.Environment != nil {
		t.Errorf("Environment = %q, want nil (all)", m.Environment)
	}
	if m.Singleton {
		t.Error("Singleton = true, want false by default")
	}
	if got, err := m.ExecutableFor("linux", "amd64"); err != nil || got != "mikrobill-plugin-audit" {
		t.Errorf("ExecutableFor = %q, %v; want the default mikrobill-plugin-audit", got, err)
	}
}

// A manifest written back as JSON parses to the same manifest.
func TestMarshalRoundTrip(t *testing.T) {
	for _, file := range []string{"valid-minimal.json", "valid-full.json"} {
		t.Run(file, func(t *testing.T) {
			m := mustParse(t, file)
			data, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			again, err := manifest.Parse(m.File, data)
			if err != nil {
				t.Fatalf("parse marshalled manifest: %v\n%s", err, data)
			}
			if diff := cmp.Diff(m, again, cmpopts.IgnoreFields(manifest.Manifest{}, "ConfigSchema")); diff != "" {
				t.Errorf("round trip (-before +after):\n%s", diff)
			}
			// Plain encoding/json reads it back too (leniently).
			var plain manifest.Manifest
			if err := json.Unmarshal(data, &plain); err != nil {
				t.Fatal(err)
			}
			plain.File = m.File
			if diff := cmp.Diff(m, &plain, cmpopts.IgnoreFields(manifest.Manifest{}, "ConfigSchema")); diff != "" {
				t.Errorf("json.Unmarshal (-parsed +unmarshalled):\n%s", diff)
			}
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	file := filepath.Join("testdata", "parse", "two-mistakes.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = manifest.Parse(file, data)
	lines := strings.Split(err.Error(), "\n")
	wantPrefixes := []string{
		file + `: requierd: unknown field "requierd"; did you mean "required"?`,
		file + `: dependencies[1].version: ">= one" is not a version constraint`,
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("Error() has %d lines, want %d:\n%s", len(lines), len(wantPrefixes), err)
	}
	for i, prefix := range wantPrefixes {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], prefix)
		}
	}
	whole := manifest.Problem{File: "a/plugin.json", Message: "is not valid JSON"}
	if got, want := whole.String(), "a/plugin.json: is not valid JSON"; got != want {
		t.Errorf("whole-file problem prints %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		dir string
		// executables are made 0755 in the copy; every other file is 0644.
		executables []string
		want        []want
	}{
		{dir: "ok", executables: []string{"mikrobill-plugin-audit"}},
		{dir: "per-platform", executables: []string{
			"bin/linux-amd64/mikrobill-plugin-audit", "bin/darwin-arm64/mikrobill-plugin-audit"}},
		{dir: "missing-executable", want: []want{
			{"executable", `"mikrobill-plugin-audit" not found in `},
		}},
		{dir: "not-executable", want: []want{
			{"executable", `"bin/audit" is not executable; run: chmod +x `},
		}},
		{dir: "executable-is-directory", want: []want{
			{"executable", `"mikrobill-plugin-audit" is a directory, not an executable file`},
		}},
		{dir: "no-build-for-platform", executables: []string{
			"bin/darwin-arm64/mikrobill-plugin-audit", "bin/linux-arm64/mikrobill-plugin-audit"}, want: []want{
			{"executable", "ships no executable for linux-amd64, only for darwin-arm64, linux-arm64"},
		}},
		// Content problems and file system problems come together.
		{dir: "invalid-and-no-executable", want: []want{
			{"version", `"1.0" is not a semantic version`},
			{"executable", `"mikrobill-plugin-audit" not found`},
		}},
		// A path the manifest got wrong is reported once, not looked up.
		{dir: "bad-executable-path", want: []want{
			{"executable", `"../audit" leaves the plugin folder`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := copyFixture(t, filepath.Join("testdata", "load", tt.dir), tt.executables)
			m, err := manifest.LoadFor(dir, "linux", "amd64")
			file := filepath.Join(dir, manifest.FileName)
			if diff := diffProblems(tt.want, problemsOf(t, file, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if m == nil {
				t.Fatal("manifest is nil")
			}
			if m.Dir != dir || m.File != file {
				t.Errorf("Dir, File = %q, %q; want %q, %q", m.Dir, m.File, dir, file)
			}
		})
	}
}

func TestLoadMissingManifest(t *testing.T) {
	dir := t.TempDir()
	_, err := manifest.Load(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(empty folder) = %v, want an error wrapping fs.ErrNotExist", err)
	}
	for _, s := range []string{filepath.Join(dir, "plugin.json"), "every plugin folder needs a plugin.json", "docs/"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	_, err = manifest.Load(filepath.Join(dir, "nope"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "plugin folder") {
		t.Errorf("Load(missing folder) = %v, want a plugin folder error wrapping fs.ErrNotExist", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	valid := func() *manifest.Manifest {
		return &manifest.Manifest{
			Name:             "audit",
			Version:          "1.0.0",
			Kind:             sdk.KindAudit,
			ProtocolVersions: []int{1},
			Priority:         manifest.DefaultPriority,
			Environment:      manifest.Environment{"production"},
			Routes:           []manifest.Route{{Method: "GET", Path: "/entries"}},
		}
	}
	tests := []struct {
		name   string
		change func(m *manifest.Manifest)
		want   []want
	}{
		{name: "valid", change: func(*manifest.Manifest) {}},
		{name: "everything wrong at once", change: func(m *manifest.Manifest) {
			m.Name = "host"
			m.Version = "one"
			m.Kind = "queue"
			m.ProtocolVersions = nil
			m.Priority = -1
			m.Environment = manifest.Environment{"all"}
			m.Dependencies = []manifest.Dependency{{Name: "cache", Version: "^1"}}
			m.Routes = []manifest.Route{{Method: "FETCH", Path: "/x/{id:[0-9]+", Auth: "owner"}}
		}, want: []want{
			{"name", `"host" is reserved`},
			{"version", `"one" is not a semantic version`},
			{"kind", `"queue" is not a plugin kind`},
			{"protocol_versions", "is required"},
			{"dependencies[0].version", `host capability "cache" takes no version constraint`},
			{"environment[0]", `"all" cannot be part of a list`},
			{"priority", "got -1"},
			{"routes[0].method", `"FETCH" is not one of`},
			{"routes[0].path", `has a "{" without its "}"`},
			{"routes[0].auth", `"owner" is not an access level`},
		}},
		{name: "route variable with a capturing group", change: func(m *manifest.Manifest) {
			m.Routes = []manifest.Route{{Method: "GET", Path: "/x/{id:(a|b)}"}}
		}, want: []want{{"routes[0].path", "has a capturing group; use (?:...) instead"}}},
		{name: "route variables with other names are the same route", change: func(m *manifest.Manifest) {
			m.Routes = []manifest.Route{{Method: "GET", Path: "/s/{id:[0-9]+}"}, {Method: "GET", Path: "/s/{n:[a-z]{2}}"}}
		}, want: []want{{"routes[1]", "is declared twice"}}},
		{name: "dependency on host", change: func(m *manifest.Manifest) {
			m.Dependencies = []manifest.Dependency{{Name: "host"}}
		}, want: []want{{"dependencies[0]", `set "min_host_version"`}}},
	}
	t.Run("marshals to a plugin.json that parses", func(t *testing.T) {
		data, err := json.Marshal(valid())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := manifest.Parse("plugin.json", data); err != nil {
			t.Errorf("Parse(%s): %v", data, err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.change(m)
			if diff := diffProblems(tt.want, problemsOf(t, "", m.Validate())); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecutableFor(t *testing.T) {
	tests := []struct {
		name    string
		m       manifest.Manifest
		want    string
		wantErr string
	}{
		{name: "default", m: manifest.Manifest{Name: "audit"}, want: "mikrobill-plugin-audit"},
		{name: "single", m: manifest.Manifest{Name: "audit", Executable: "bin/audit"}, want: "bin/audit"},
		{name: "per platform", m: manifest.Manifest{Name: "audit", Executables: map[string]string{
			"linux-amd64": "amd64/audit", "linux-arm64": "arm64/audit"}}, want: "amd64/audit"},
		{name: "not for this platform", m: manifest.Manifest{Name: "audit", Executables: map[string]string{
			"darwin-arm64": "audit", "linux-arm64": "audit"}},
			wantErr: `plugin "audit" ships no executable for linux-amd64, only for darwin-arm64, linux-arm64`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.ExecutableFor("linux", "amd64")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ExecutableFor = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ExecutableFor = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestRunsIn(t *testing.T) {
	tests := []struct {
		env  manifest.Environment
		want map[string]bool
	}{
		{env: nil, want: map[string]bool{"production": true, "development": true, "staging": true}},
		{env: manifest.Environment{"production"}, want: map[string]bool{"production": true, "development": false, "Production": false}},
		{env: manifest.Environment{"staging", "production"}, want: map[string]bool{"staging": true, "production": true, "development": false}},
	}
	for _, tt := range tests {
		m := &manifest.Manifest{Environment: tt.env}
		got := map[string]bool{}
		for env := range tt.want {
			got[env] = m.RunsIn(env)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("environment %q: RunsIn (-want +got):\n%s", tt.env, diff)
		}
	}
}

func TestEnvironmentJSON(t *testing.T) {
	tests := []struct {
		json string
		env  manifest.Environment
	}{
		{`"all"`, nil},
		{`"production"`, manifest.Environment{"production"}},
		{`"development"`, manifest.Environment{"development"}},
		{`["staging","production"]`, manifest.Environment{"staging", "production"}},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			data, err := json.Marshal(tt.env)
			if err != nil || string(data) != tt.json {
				t.Errorf("Marshal(%q) = %s, %v; want %s", tt.env, data, err, tt.json)
			}
			var env manifest.Environment
			if err := json.Unmarshal([]byte(tt.json), &env); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.env, env); diff != "" {
				t.Errorf("Unmarshal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsRequired(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		required *bool
		want     bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		if got := (&manifest.Manifest{Required: tt.required}).IsRequired(); got != tt.want {
			t.Errorf("IsRequired with Required=%v = %v, want %v", tt.required, got, tt.want)
		}
	}
}

func TestSecretFields(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   []string
	}{
		{name: "no schema"},
		{name: "full fixture", schema: string(mustParse(t, "valid-full.json").ConfigSchema), want: []string{"server_key"}},
		{name: "password and writeOnly", schema: `{"type":"object","properties":{
			"token":{"type":"string","writeOnly":true},
			"api_key":{"type":"string","format":"password"},
			"url":{"type":"string","format":"uri"},
			"shown":{"type":"string","writeOnly":false},
			"nested":{"type":"object","properties":{"secret":{"format":"password"}}}}}`,
			want: []string{"api_key", "nested.secret", "token"}},
		{name: "in the items of a list", schema: `{"type":"object","properties":{
			"locations":{"type":"array","items":{"type":"object","properties":{
				"id":{"type":"string"},"password":{"type":"string","format":"password","writeOnly":true}}}},
			"keys":{"type":"array","items":{"type":"string","writeOnly":true}}}}`,
			want: []string{"keys[]", "locations[].password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &manifest.Manifest{ConfigSchema: json.RawMessage(tt.schema)}
			if diff := cmp.Diff(tt.want, m.SecretFields()); diff != "" {
				t.Errorf("SecretFields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateSettings(t *testing.T) {
	full := mustParse(t, "valid-full.json")
	bare := mustParse(t, "valid-minimal.json")
	tests := []struct {
		name     string
		m        *manifest.Manifest
		settings string // a file under testdata/settings, or JSON
		want     []manifest.Violation
	}{
		{name: "valid", m: full, settings: "valid.json"},
		{name: "invalid", m: full, settings: "invalid.json", want: []manifest.Violation{
			{Location: "", Message: "additional properties 'merchant' not allowed"},
			{Location: "/environment", Message: "value must be one of 'sandbox', 'production'"},
			{Location: "/expiry_minutes", Message: "minimum: got 2, want 5"},
			{Location: "/server_key", Message: "minLength: got 5, want 8"},
		}},
		{name: "missing required and wrong type", m: full, settings: "missing-required.json", want: []manifest.Violation{
			{Location: "", Message: "missing properties 'server_key', 'environment'"},
			{Location: "/expiry_minutes", Message: "got string, want integer"},
		}},
		{name: "empty settings count as {}", m: full, settings: "", want: []manifest.Violation{
			{Location: "", Message: "missing properties 'server_key', 'environment'"},
		}},
		{name: "not an object", m: full, settings: `["x"]`, want: []manifest.Violation{
			{Location: "", Message: "got array, want object"},
		}},
		{name: "not JSON", m: full, settings: `{"server_key":`, want: []manifest.Violation{
			{Location: "", Message: "invalid JSON: unexpected EOF"},
		}},
		{name: "no schema, no settings", m: bare, settings: ""},
		{name: "no schema, empty object", m: bare, settings: " {} "},
		{name: "no schema, some settings", m: bare, settings: `{"x":1}`, want: []manifest.Violation{
			{Location: "", Message: "the plugin takes no settings (its plugin.json has no config_schema); remove them"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings := []byte(tt.settings)
			if strings.HasSuffix(tt.settings, ".json") {
				var err error
				if settings, err = os.ReadFile(filepath.Join("testdata", "settings", tt.settings)); err != nil {
					t.Fatal(err)
				}
			}
			err := tt.m.ValidateSettings(settings)
			var got []manifest.Violation
			if err != nil {
				var serr *manifest.SettingsError
				if !errors.As(err, &serr) {
					t.Fatalf("error is %T, want *manifest.SettingsError: %v", err, err)
				}
				if serr.Plugin != tt.m.Name {
					t.Errorf("SettingsError.Plugin = %q, want %q", serr.Plugin, tt.m.Name)
				}
				got = serr.Violations
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// Violations never echo a value: settings hold secrets and errors are
// logged.
func TestValidateSettingsDoesNotLeakValues(t *testing.T) {
	m := &manifest.Manifest{Name: "payment-x", ConfigSchema: json.RawMessage(`{"type":"object","properties":{
		"key":{"type":"string","format":"password","pattern":"^SB-"},
		"mail":{"type":"string","format":"email"}}}`)}
	err := m.ValidateSettings(json.RawMessage(`{"key":"hunter2-secret","mail":"hunter3-secret"}`))
	if err == nil {
		t.Fatal("ValidateSettings accepted invalid settings")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks a value:\n%s", err)
	}
	want := `plugin "payment-x" settings at /key: does not match the pattern "^SB-"` + "\n" +
		`plugin "payment-x" settings at /mail: is not a valid email`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
}

func TestValidateSettingsAnyOf(t *testing.T) {
	m := &manifest.Manifest{Name: "x", ConfigSchema: json.RawMessage(`{"type":"object","properties":{
		"port":{"anyOf":[{"type":"integer"},{"type":"string","pattern":"^[0-9]+$"}]}}}`)}
	tests := []struct {
		settings string
		want     []manifest.Violation
	}{
		{`{"port": 8080}`, nil},
		{`{"port": "8080"}`, nil},
		// Every alternative failed on type: one merged line.
		{`{"port": true}`, []manifest.Violation{{Location: "/port", Message: "got boolean, want integer or string"}}},
		// The alternative with the right type explains the failure.
		{`{"port": "http"}`, []manifest.Violation{{Location: "/port", Message: `does not match the pattern "^[0-9]+$"`}}},
	}
	for _, tt := range tests {
		var got []manifest.Violation
		var serr *manifest.SettingsError
		if err := m.ValidateSettings(json.RawMessage(tt.settings)); errors.As(err, &serr) {
			got = serr.Violations
		} else if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: violations (-want +got):\n%s", tt.settings, diff)
		}
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		name        string
		minHost     string
		protocols   []int
		hostVersion string
		hostProtos  []int
		want        []want
	}{
		{name: "compatible", minHost: "1.2.0", protocols: []int{1, 2}, hostVersion: "1.3.0", hostProtos: []int{2, 3}},
		{name: "no minimum", protocols: []int{1}, hostVersion: "0.1.0", hostProtos: []int{1}},
		{name: "exactly the minimum", minHost: "2.0.0", protocols: []int{1}, hostVersion: "2.0.0", hostProtos: []int{1}},
		{name: "development build", minHost: "9.0.0", protocols: []int{1}, hostVersion: "dev", hostProtos: []int{1}},
		{name: "host too old", minHost: "2.0.0", protocols: []int{1}, hostVersion: "1.0.0", hostProtos: []int{1}, want: []want{
			{"min_host_version", "needs mikrobill >= 2.0.0, this host is 1.0.0; upgrade the host"},
		}},
		{name: "pre-release of the minimum is older", minHost: "2.0.0", protocols: []int{1}, hostVersion: "2.0.0-rc.1", hostProtos: []int{1}, want: []want{
			{"min_host_version", "this host is 2.0.0-rc.1"},
		}},
		{name: "no common protocol", protocols: []int{3}, hostVersion: "1.0.0", hostProtos: []int{1}, want: []want{
			{"protocol_versions", "speaks plugin protocol 3, this host speaks 1; rebuild the plugin with a matching SDK or upgrade the host"},
		}},
		{name: "no protocol listed", hostVersion: "1.0.0", hostProtos: []int{1}, want: []want{
			{"protocol_versions", "lists no plugin protocol version, this host speaks 1"},
		}},
		{name: "both", minHost: "3.0.0", protocols: []int{4, 3}, hostVersion: "2.5.0", hostProtos: []int{1, 2}, want: []want{
			{"min_host_version", "needs mikrobill >= 3.0.0, this host is 2.5.0"},
			{"protocol_versions", "speaks plugin protocol 3 and 4, this host speaks 1 and 2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &manifest.Manifest{Name: "x", File: "x/plugin.json", MinHostVersion: tt.minHost, ProtocolVersions: tt.protocols}
			got := m.CheckHost(tt.hostVersion, tt.hostProtos)
			for _, p := range got {
				if p.File != m.File {
					t.Errorf("problem %q: File = %q, want %q", p, p.File, m.File)
				}
			}
			if diff := diffProblems(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"name", "version", "kind", "required", "min_host_version", "protocol_versions", "dependencies"}
	tests := map[string]string{
		"requierd":         "required",
		"reqiured":         "required",
		"Required":         "required",
		"minHostVersion":   "min_host_version",
		"protocol_version": "protocol_versions",
		"verison":          "version",
		"nam":              "name",
		"colour":           "",
		"x":                "",
		"deps":             "",
	}
	for unknown, want := range tests {
		if got := manifest.Suggest(unknown, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", unknown, got, want)
		}
	}
}

func mustParse(t *testing.T, name string) *manifest.Manifest {
	t.Helper()
	file := filepath.Join("testdata", "parse", name)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyFixture copies a fixture folder into a temporary one, with modes set
// here rather than trusting the checkout: the listed executables get 0755,
// every other file 0644.
func copyFixture(t *testing.T, src string, executables []string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		for _, e := range executables {
			if filepath.FromSlash(e) == rel {
				mode = 0o755
			}
		}
		if err := os.WriteFile(target, data, mode); err != nil {
			return err
		}
		return os.Chmod(target, mode) // WriteFile's mode is subject to umask
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestRequiredIn: "required" may name the environments a plugin is
// required in (the bundled audit plugin says "production"); elsewhere it
// is optional.
func TestRequiredIn(t *testing.T) {
	for _, tt := range []struct {
		required         string
		inProd, inDev    bool
		requiredInString string
	}{
		{`true`, true, true, ""},
		{`false`, false, false, ""},
		{`"all"`, true, true, ""},
		{`"production"`, true, false, "production"},
		{`["staging", "production"]`, true, false, "staging,production"},
		{`"development"`, false, true, "development"},
	} {
		t.Run(tt.required, func(t *testing.T) {
			doc := `{"name": "audit", "version": "1.0.0", "kind": "audit", "protocol_versions": [1], "required": ` + tt.required + `}`
			m, err := manifest.Parse("plugin.json", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.IsRequiredIn("production"); got != tt.inProd {
				t.Errorf("required in production = %v, want %v", got, tt.inProd)
			}
			if got := m.IsRequiredIn("development"); got != tt.inDev {
				t.Errorf("required in development = %v, want %v", got, tt.inDev)
			}
			if got := strings.Join(m.RequiredIn, ","); got != tt.requiredInString {
				t.Errorf("RequiredIn = %q, want %q", got, tt.requiredInString)
			}
		})
	}
	if _, err := manifest.Parse("plugin.json", []byte(`{"name": "audit", "version": "1.0.0", "kind": "audit", "protocol_versions": [1], "required": []}`)); err == nil {
		t.Error(`"required": [] was accepted`)
	}
}
