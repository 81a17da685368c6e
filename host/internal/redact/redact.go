// Package redact holds the host's one rule for hiding secrets that no
// declaration names, and the one way of hiding them in URLs.
//
// What is secret is decided in one place per kind of setting: a host
// setting by its declaration (config.Setting.Secret), a plugin's setting by
// its config_schema (manifest.SecretFields), and a plugin's setting with no
// schema to ask (the plugin is not installed yet) by its name, with
// GuessSecretFields. URL hides the passwords of a URL wherever one is shown
// or logged: `mikrobill config show`, the store's "where", error messages.
package redact

import (
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Mask stands for a password in a URL.
const Mask = "xxxxx"

// notURL stands for a value that should be a URL but is not one: it is
// hidden whole, since it may be a connection string with a password in it.
const notURL = "<redacted: not a valid URL>"

// secretWords mark a name as secret (any case): "api_key", "Password",
// "webhook_token", "client_secret", "sslpassword", "private_pem".
var secretWords = []string{"pass", "secret", "token", "key", "credential", "private"}

// SecretName reports whether a name looks like it holds a secret: it
// contains pass, secret, token, key, credential or private, in any case.
func SecretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// URL returns raw with its passwords replaced by Mask: the password of its
// user information (postgres://user:xxxxx@host/db) and the values of query
// parameters whose names look secret (SecretName: ?password=, ?sslpassword=,
// ?token=, ?api_key=). A value that is not a URL with a scheme is hidden
// whole; "" stays "".
func URL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return notURL
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if SecretName(k) {
				q.Set(k, Mask)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// GuessSecretFields returns the paths of the fields of a plugin's settings
// whose names look secret (SecretName), for settings that no config_schema
// describes. Paths are written as manifest.SecretFields writes them:
// "api_key" at the top level, "webhook.auth_token" in an object,
// "locations[].password" in the objects of a list. A field that looks
// secret is named whole: nothing inside it is looked at. The paths are
// sorted and each is named once.
func GuessSecretFields(settings map[string]any) []string {
	var out []string
	guess(settings, "", &out)
	sort.Strings(out)
	return slices.Compact(out)
}

func guess(obj map[string]any, path string, out *[]string) {
	for k, v := range obj {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if SecretName(k) {
			*out = append(*out, p)
			continue
		}
		switch t := v.(type) {
		case map[string]any:
			guess(t, p, out)
		case []any:
			for _, item := range t {
				if m, ok := item.(map[string]any); ok {
					guess(m, p+"[]", out)
				}
			}
		}
	}
}

// Fields replaces in settings every value at the given paths (as
// GuessSecretFields and manifest.SecretFields write them) with mark,
// whatever its type, unless it is null or "" (nothing to hide). Places
// where settings do not have a path's shape are left alone.
func Fields(settings map[string]any, paths []string, mark any) {
	for _, p := range paths {
		fieldsAt(settings, strings.Split(p, "."), mark)
	}
}

func fieldsAt(v any, segs []string, mark any) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	key, list := strings.CutSuffix(segs[0], "[]")
	child, ok := obj[key]
	if !ok {
		return
	}
	last := len(segs) == 1
	if !list {
		if !last {
			fieldsAt(child, segs[1:], mark)
		} else if isSet(child) {
			obj[key] = mark
		}
		return
	}
	items, _ := child.([]any)
	for i, item := range items {
		if !last {
			fieldsAt(item, segs[1:], mark)
		} else if isSet(item) {
			items[i] = mark
		}
	}
}

func isSet(v any) bool { return v != nil && v != "" }
