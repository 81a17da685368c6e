package store

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// MapSecret replaces every value at path in obj with what f returns for it.
// Values that are absent, null or "" are left alone, and so are places
// where the settings do not have the path's shape (the schema check
// reports those). A value that is there but not a string is an error: it
// could not be encrypted and given back as it was.
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
	at := func(v any, set func(any)) error {
		if len(segs) > 1 {
			return mapSecret(v, segs[1:], path, f)
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%w: secret field %q must be a string", ErrInvalid, path)
		}
		if s == "" {
			return nil
		}
		nv, err := f(s)
		if err == nil {
			set(nv)
		}
		return err
	}
	if !list {
		return at(child, func(nv any) { obj[key] = nv })
	}
	items, ok := child.([]any)
	if !ok {
		return nil
	}
	for i, item := range items {
		if err := at(item, func(nv any) { items[i] = nv }); err != nil {
			return err
		}
	}
	return nil
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
