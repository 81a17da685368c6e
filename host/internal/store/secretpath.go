package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// A secret path names the secret values of a plugin's settings: "api_key"
// is a top-level field, "tls.key" a field of an object, and
// "locations[].password" the field of every item of a list (see
// manifest.SecretFields).

// DecodeSettings decodes a settings object into a tree of map[string]any,
// []any, strings, json.Number, bools and nils (numbers keep their digits).
func DecodeSettings(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if raw[0] != '{' || dec.Decode(&obj) != nil {
		return nil, fmt.Errorf("%w: settings must be a JSON object", ErrInvalid)
	}
	if obj == nil {
		obj = map[string]any{}
	}
	return obj, nil
}

// EncodeSettings writes a tree from DecodeSettings as JSON, without HTML
// escapes.
func EncodeSettings(obj map[string]any) (json.RawMessage, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// MapSecret replaces every string of the secret value at path in obj with
// what f returns for it. A secret value is a string, or a list or an object
// whose strings are all secret (a list of webhook signing secrets, a key
// pair): f gets each of their strings. Values that are absent, null or ""
// are left alone, and so are places where the settings do not have the
// path's shape (the schema check reports those). A number or a boolean in a
// secret value is an error: it could not be encrypted and given back as it
// was.
func MapSecret(obj map[string]any, path string, f func(string) (any, error)) error {
	return mapSecret(obj, strings.Split(path, "."), path, f)
}

func mapSecret(v any, segs []string, path string, f func(string) (any, error)) error {
	obj, ok := v.(map[string]any)
	if !ok || len(segs) == 0 {
		return nil
	}
	key, list := strings.CutSuffix(segs[0], "[]")
	child, ok := obj[key]
	if !ok || child == nil {
		return nil
	}
	// at handles one value at the path's next step: the secret itself on
	// the last step, an object to step into otherwise.
	at := func(v any) (any, error) {
		if len(segs) > 1 {
			return v, mapSecret(v, segs[1:], path, f)
		}
		return mapSecretValue(v, path, f)
	}
	if !list {
		nv, err := at(child)
		obj[key] = nv
		return err
	}
	items, ok := child.([]any)
	if !ok {
		return nil
	}
	var first error
	for i, item := range items {
		nv, err := at(item)
		items[i] = nv
		if first == nil {
			first = err
		}
	}
	return first
}

// mapSecretValue maps every string of one secret value. A number or a
// boolean in it is an error, reported after the strings around it are
// mapped all the same (a redaction leaves none of them in clear).
func mapSecretValue(v any, path string, f func(string) (any, error)) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if t == "" {
			return t, nil
		}
		nv, err := f(t)
		if err != nil {
			return t, err
		}
		return nv, nil
	case []any:
		var first error
		for i, item := range t {
			nv, err := mapSecretValue(item, path, f)
			if err == nil {
				t[i] = nv
			} else if first == nil {
				first = err
			}
		}
		return t, first
	case map[string]any:
		var first error
		for k, item := range t {
			nv, err := mapSecretValue(item, path, f)
			if err == nil {
				t[k] = nv
			} else if first == nil {
				first = err
			}
		}
		return t, first
	default:
		return v, fmt.Errorf("%w: secret field %q must hold text: a string, a list of strings or an object of strings", ErrInvalid, path)
	}
}

// OutermostSecretPaths returns paths, sorted, without repeats and without
// the paths that lie inside another one ("webhook_secrets[]" inside
// "webhook_secrets", "tls.key" inside "tls"): the secret at the outer path
// covers them, and each string must be encrypted once.
func OutermostSecretPaths(paths []string) []string {
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var out []string
	for _, p := range sorted {
		inside := false
		for _, q := range sorted {
			if q != p && (strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+"[]")) {
				inside = true
				break
			}
		}
		if !inside && p != "" {
			out = append(out, p)
		}
	}
	return out
}

// walkStrings calls f with every string in v and its secret path, and puts
// back what f returns.
func walkStrings(v any, path string, f func(path, s string) (any, error)) (any, error) {
	switch t := v.(type) {
	case string:
		return f(path, t)
	case map[string]any:
		for k, c := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			nv, err := walkStrings(c, p, f)
			if err != nil {
				return nil, err
			}
			t[k] = nv
		}
	case []any:
		for i, c := range t {
			nv, err := walkStrings(c, path+"[]", f)
			if err != nil {
				return nil, err
			}
			t[i] = nv
		}
	}
	return v, nil
}
