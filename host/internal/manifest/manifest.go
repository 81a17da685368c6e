package manifest

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// FileName is the manifest's file name inside a plugin folder.
const FileName = client.ManifestFileName

// DefaultPriority is the priority of a manifest that does not set one.
const DefaultPriority = 100

// Bounds of the priority field.
const (
	MinPriority = 0
	MaxPriority = 1000
)

// A manifest's "kind" is one of the SDK's kinds (sdk.Kinds: sdk.KindPayment,
// sdk.KindRouter, ...); they are defined there only.

// Environment names with a meaning of their own. Any other non-empty name
// (for example "staging") may appear in an environment list.
const (
	EnvAll         = "all"
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Route access levels, as in a route's "auth" field, from least to most
// privileged: "public", then the SDK's roles (sdk.Roles), which are defined
// there only. AuthAdmin is the default.
const (
	AuthPublic   = "public"
	AuthViewer   = sdk.RoleViewer
	AuthOperator = sdk.RoleOperator
	AuthAdmin    = sdk.RoleAdmin
)

// AuthLevels lists every valid route access level.
var AuthLevels = append([]string{AuthPublic}, sdk.Roles...)

// RouteMethods lists the HTTP methods a route may declare.
var RouteMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// Host capabilities a plugin may depend on instead of another plugin. The
// host provides them (or not, see resolve.Options.Capabilities).
const (
	CapabilityDatabase = "database"
	CapabilityCache    = "cache"
)

// HostCapabilities lists every host capability.
var HostCapabilities = []string{CapabilityCache, CapabilityDatabase}

// ReservedNames are names no plugin may take: the host capabilities and
// "host" itself.
var ReservedNames = []string{CapabilityCache, CapabilityDatabase, "host"}

// IsHostCapability reports whether a dependency name means a host
// capability rather than a plugin.
func IsHostCapability(name string) bool {
	return slices.Contains(HostCapabilities, name)
}

// Manifest is a plugin's plugin.json. A complete example (every field but
// name, version, kind and protocol_versions is optional):
//
//	{
//	  "name": "payment-midtrans",
//	  "version": "1.2.0",
//	  "kind": "payment",
//	  "description": "Midtrans Snap payments (QRIS, e-wallets, virtual accounts).",
//	  "executables": {
//	    "linux-amd64": "bin/linux-amd64/mikrobill-plugin-payment-midtrans",
//	    "linux-arm64": "bin/linux-arm64/mikrobill-plugin-payment-midtrans",
//	    "darwin-arm64": "bin/darwin-arm64/mikrobill-plugin-payment-midtrans"
//	  },
//	  "protocol_versions": [1],
//	  "min_host_version": "1.0.0",
//	  "dependencies": [
//	    "database",
//	    {"name": "audit", "version": ">=1.0.0, <2.0.0"}
//	  ],
//	  "environment": ["staging", "production"],
//	  "required": false,
//	  "priority": 50,
//	  "config_schema": {
//	    "type": "object",
//	    "required": ["server_key", "environment"],
//	    "properties": {
//	      "server_key": {"type": "string", "title": "Server key", "format": "password", "minLength": 8},
//	      "environment": {"type": "string", "enum": ["sandbox", "production"], "default": "sandbox"},
//	      "expiry_minutes": {"type": "integer", "minimum": 5, "maximum": 1440, "default": 60}
//	    },
//	    "additionalProperties": false
//	  },
//	  "routes": [
//	    {"method": "GET", "path": "/status", "auth": "operator"},
//	    {"method": "GET", "path": "/payments/{id}", "auth": "viewer"},
//	    {"method": "POST", "path": "/refunds"}
//	  ],
//	  "events": ["invoice.paid", "customer.*"]
//	}
//
// A plugin built for one platform may write "executable" (a path relative to
// the plugin folder) instead of "executables"; with neither, the executable
// is "mikrobill-plugin-<name>" beside plugin.json.
//
// Read a manifest with [Load] or [Parse]; they set the defaults of absent
// fields (Priority 100, each route's Auth "admin"). A Manifest built in code
// should set Priority itself: its zero value means "load first".
type Manifest struct {
	// Name identifies the plugin: 2 to 63 characters, lowercase letters,
	// digits and '-', starting with a letter. "database", "cache" and "host"
	// are reserved. Required.
	Name string `json:"name"`
	// Version is the plugin's version, a strict semantic version such as
	// "1.2.0". Required.
	Version string `json:"version"`
	// Kind is one of [sdk.Kinds]; it must match what the plugin serves.
	// Required.
	Kind string `json:"kind"`
	// Description is one line for the admin UI.
	Description string `json:"description,omitempty"`
	// Executable is the executable's path relative to the plugin folder,
	// with forward slashes, never absolute and never leaving the folder.
	// At most one of Executable and Executables may be set; see
	// [Manifest.ExecutableFor] for the default.
	Executable string `json:"executable,omitempty"`
	// Executables maps "<GOOS>-<GOARCH>" (for example "linux-arm64") to the
	// executable for that platform, each path as for Executable.
	Executables map[string]string `json:"executables,omitempty"`
	// ProtocolVersions lists the plugin protocol versions the plugin
	// speaks (the SDK it was built with decides). Required, non-empty.
	ProtocolVersions []int `json:"protocol_versions"`
	// MinHostVersion is the oldest host version (semver) the plugin runs
	// on; empty means any.
	MinHostVersion string `json:"min_host_version,omitempty"`
	// Dependencies are the plugins (optionally with a version constraint)
	// and host capabilities ("database", "cache") the plugin needs. The
	// host loads a plugin only after its plugin dependencies.
	Dependencies []Dependency `json:"dependencies,omitempty"`
	// Environment lists the environments the plugin loads in; nil means
	// all of them. See [Environment].
	Environment Environment `json:"environment,omitempty"`
	// Required says whether the host refuses to start without this plugin;
	// nil means true (unless RequiredIn is set). Use
	// [Manifest.IsRequiredIn]. The operator's configuration may override
	// it.
	Required *bool `json:"required,omitempty"`
	// RequiredIn is set when plugin.json's "required" names environments
	// instead of true or false ("production", or a list): the plugin is
	// required in those and optional elsewhere. The bundled audit plugin
	// says "production": a production host refuses to start without its
	// audit log, a development one (make run) runs on if it fails.
	RequiredIn Environment `json:"required_in,omitempty"`
	// Priority orders plugins whose dependencies are met: lower loads
	// first. 0 to 1000, default 100.
	Priority int `json:"priority"`
	// Singleton says the plugin must run on one host at a time when several
	// hosts share one database (a WhatsApp session is connected from one
	// device; a router may take one API connection from the billing
	// system). The hosts choose the one that runs it through a lease in the
	// database; the others leave it stopped and work none of its jobs.
	// Default false: every host runs the plugin. Its name also names its
	// job queue (SingletonQueue), so a singleton's name has no "--" and
	// does not end in "-", and is at most MaxSingletonNameLength long.
	Singleton bool `json:"singleton,omitempty"`
	// ConfigSchema is a JSON Schema (draft 2020-12 unless it says
	// otherwise) for the plugin's settings, a JSON object. The admin UI
	// renders the settings form from it; the host checks settings against
	// it ([Manifest.ValidateSettings]) before handing them to the plugin.
	// Properties with "format": "password" or "writeOnly": true are
	// secrets ([Manifest.SecretFields]). Empty means the plugin takes no
	// settings.
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	// Routes are the HTTP routes the plugin serves under
	// /plugins/{name}/.
	Routes []Route `json:"routes,omitempty"`
	// Events are the event types the plugin subscribes to: dotted
	// lowercase names ("invoice.paid"), a prefix wildcard ("invoice.*"),
	// or "*" for every event.
	Events []string `json:"events,omitempty"`

	// Dir is the plugin folder the manifest was loaded from ([Load]).
	Dir string `json:"-"`
	// File is the manifest's path as given to [Load] or [Parse]; problems
	// name it.
	File string `json:"-"`
}

// Dependency is one entry of a manifest's "dependencies". In plugin.json it
// is either a bare name ("audit", "database") or an object
// {"name": "audit", "version": ">=1.0.0, <2.0.0"}.
type Dependency struct {
	// Name is a plugin name or a host capability ([HostCapabilities]).
	Name string `json:"name"`
	// Version is an optional semver constraint on the plugin's version in
	// the syntax of github.com/Masterminds/semver ("^1.2", ">=1.0.0, <2.0.0",
	// "~1.4 || >=2.1"). Host capabilities take none.
	Version string `json:"version,omitempty"`
}

// IsHostCapability reports whether d names a host capability rather than a
// plugin.
func (d Dependency) IsHostCapability() bool { return IsHostCapability(d.Name) }

// MarshalJSON writes a dependency without a constraint as a bare name.
func (d Dependency) MarshalJSON() ([]byte, error) {
	if d.Version == "" {
		return json.Marshal(d.Name)
	}
	type plain Dependency
	return json.Marshal(plain(d))
}

// UnmarshalJSON accepts both forms. It is lenient about unknown fields;
// [Parse] is the strict reader.
func (d *Dependency) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		*d = Dependency{}
		return json.Unmarshal(data, &d.Name)
	}
	type plain Dependency
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*d = Dependency(p)
	return nil
}

// Environment is the set of environments a plugin loads in. nil (written
// "all" in plugin.json) means every environment. "development" and
// "production" may be written as a bare string; any other set is a list,
// for example ["staging", "production"].
type Environment []string

// MarshalJSON writes nil as "all", a single "development" or "production"
// as a bare string, and anything else as a list.
func (e Environment) MarshalJSON() ([]byte, error) {
	switch {
	case len(e) == 0:
		return json.Marshal(EnvAll)
	case len(e) == 1 && (e[0] == EnvDevelopment || e[0] == EnvProduction):
		return json.Marshal(e[0])
	default:
		return json.Marshal([]string(e))
	}
}

// UnmarshalJSON accepts a string or a list of strings. It does not check
// names; [Parse] does.
func (e *Environment) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		if s == EnvAll {
			*e = nil
		} else {
			*e = Environment{s}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("environment must be a string or a list of strings")
	}
	*e = list
	return nil
}

// Route is an HTTP route a plugin serves. The host mounts it under
// /plugins/{name}/ with the access level Auth names.
type Route struct {
	// Method is one of [RouteMethods], uppercase.
	Method string `json:"method"`
	// Path starts with "/" and may hold gorilla/mux variables:
	// "/sessions/{id}", "/payments/{id:[0-9]+}".
	Path string `json:"path"`
	// Auth is who may call the route, one of [AuthLevels]. [Parse] sets
	// "admin" when absent; in a Manifest built in code empty also means
	// "admin".
	Auth string `json:"auth,omitempty"`
}

// IsRequired reports whether the host must refuse to start without this
// plugin in every environment: true unless the manifest says "required":
// false or names the environments it is required in (IsRequiredIn).
func (m *Manifest) IsRequired() bool {
	return m.RequiredIn == nil && (m.Required == nil || *m.Required)
}

// IsRequiredIn reports whether the host must refuse to start without this
// plugin in the environment env (the value of NODE_ENV).
func (m *Manifest) IsRequiredIn(env string) bool {
	if m.RequiredIn != nil {
		return slices.Contains(m.RequiredIn, env)
	}
	return m.IsRequired()
}

// RunsIn reports whether the plugin loads in the environment env (for
// example "production", the value of NODE_ENV). Names match exactly.
func (m *Manifest) RunsIn(env string) bool {
	return len(m.Environment) == 0 || slices.Contains(m.Environment, env)
}

// DefaultExecutable is the executable name used when a manifest sets
// neither executable nor executables: "mikrobill-plugin-<name>"
// (client.ExecutablePrefix).
func (m *Manifest) DefaultExecutable() string {
	return client.ExecutablePrefix + m.Name
}

// launch is the part of the manifest the SDK reads too: who the plugin is
// and which file to execute. The host and the conformance kit pick the
// executable and compare Describe with it through the same functions.
func (m *Manifest) launch() *client.Manifest {
	return &client.Manifest{File: m.File, Name: m.Name, Version: m.Version, Kind: m.Kind,
		Executable: m.Executable, Executables: m.Executables}
}

// ExecutableFor returns the path, relative to the plugin folder and with
// forward slashes, of the executable to start on goos/goarch (use
// runtime.GOOS and runtime.GOARCH). It fails when the manifest maps
// executables per platform and ships none for this one; the error lists
// the platforms it does ship for. The rule is the SDK's
// (client.Manifest.ExecutableFor), which the conformance kit follows too.
func (m *Manifest) ExecutableFor(goos, goarch string) (string, error) {
	return m.launch().ExecutableFor(goos, goarch)
}

// Platforms returns the sorted "<GOOS>-<GOARCH>" keys of Executables, or nil
// when the manifest does not map executables per platform.
func (m *Manifest) Platforms() []string {
	return client.Platforms(m.Executables)
}

// CheckDescribe compares what the plugin's executable says of itself with
// the manifest: name, version and kind must be equal. It is the SDK's check
// (client.Manifest.CheckDescribe), which `mikrobill plugin validate` and the
// conformance kit run too; its error says what differs and what to do.
func (m *Manifest) CheckDescribe(d *sdk.DescribeResponse) error {
	return m.launch().CheckDescribe(d)
}
