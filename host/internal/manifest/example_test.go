package manifest_test

import (
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// Parse reports every problem at once, each with its file and field.
func ExampleParse() {
	data := []byte(`{
	  "name": "payment-midtrans",
	  "version": 1,
	  "kind": "payment",
	  "protocol_versions": [1],
	  "requierd": false,
	  "dependencies": ["database", {"name": "audit", "version": ">= one"}]
	}`)
	_, err := manifest.Parse("plugins/payment-midtrans/plugin.json", data)
	fmt.Println(err)
	// Output:
	// plugins/payment-midtrans/plugin.json: requierd: unknown field "requierd"; did you mean "required"?
	// plugins/payment-midtrans/plugin.json: version: must be a string, got number
	// plugins/payment-midtrans/plugin.json: dependencies[1].version: ">= one" is not a version constraint (improper constraint: ">= one"); write one such as ">=1.0.0, <2.0.0" or "^1.2"
}

// ValidateSettings checks an operator's settings against config_schema and
// names each offending setting by its JSON pointer.
func ExampleManifest_ValidateSettings() {
	m := &manifest.Manifest{
		Name: "payment-midtrans",
		ConfigSchema: []byte(`{
		  "type": "object",
		  "required": ["server_key"],
		  "properties": {
		    "server_key": {"type": "string", "format": "password", "minLength": 8},
		    "expiry_minutes": {"type": "integer", "minimum": 5}
		  }
		}`),
	}
	fmt.Println(m.ValidateSettings([]byte(`{"server_key": "short", "expiry_minutes": 1}`)))
	fmt.Println(m.SecretFields())
	// Output:
	// plugin "payment-midtrans" settings at /expiry_minutes: minimum: got 1, want 5
	// plugin "payment-midtrans" settings at /server_key: minLength: got 5, want 8
	// [server_key]
}
