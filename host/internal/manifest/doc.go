// Package manifest reads and checks plugin.json, the manifest that sits
// beside every plugin executable:
//
//	plugins/
//	  payment-midtrans/
//	    plugin.json
//	    mikrobill-plugin-payment-midtrans
//
// Start with [Load], which reads a plugin folder and returns its [Manifest]
// (the type's doc holds a complete example plugin.json). [Parse] does the
// same for bytes already in memory, and [Manifest.Validate] checks a
// Manifest built in code.
//
// Checking is strict and complete: unknown fields are errors (with a
// "did you mean" suggestion), and every problem in a file is reported at
// once as a [*ValidationError], one [Problem] per mistake, each naming the
// file and the field (for example "dependencies[1].version"), so an
// operator fixes a manifest in one pass instead of one error per restart.
//
// After loading, the host asks a manifest a few questions:
// [Manifest.CheckHost] (is this host new enough and do we share a protocol
// version), [Manifest.RunsIn] (does it load in this environment),
// [Manifest.ExecutableFor] (which file to start on this platform),
// [Manifest.ValidateSettings] (are an operator's settings valid against
// config_schema) and [Manifest.SecretFields] (which settings to redact).
// Ordering plugins by their dependencies is package resolve's job.
package manifest
