package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// DecodeConfig decodes a plugin's settings (ConfigureRequest.Settings) into
// v, a pointer to a struct with json tags. It is strict: an unknown field or
// a value of the wrong type is an error wrapping ErrInvalidArgument that
// names the field, so an operator sees exactly what to fix. Empty settings
// leave v as it is (keep your defaults in v before calling). Call it from
// Configure, as the examples show.
func DecodeConfig(settings json.RawMessage, v any) error {
	if len(bytes.TrimSpace(settings)) == 0 || string(bytes.TrimSpace(settings)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(settings))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: settings: %s", ErrInvalidArgument, describeJSONError(err, reflect.TypeOf(v)))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: settings: unexpected data after the JSON object", ErrInvalidArgument)
	}
	return nil
}

func describeJSONError(err error, t reflect.Type) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := jsonPath(t, typeErr.Field)
		if field == "" {
			return fmt.Sprintf("expected %s, got a JSON %s", typeErr.Type, typeErr.Value)
		}
		return fmt.Sprintf("field %q: expected %s, got a JSON %s", field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "; check the plugin's config_schema for the fields it takes"
	default:
		return err.Error()
	}
}

// jsonPath drops from a decoding error's field path the names of embedded
// structs, whose fields are the settings' own: "Connection.timeout_seconds"
// is "timeout_seconds".
func jsonPath(t reflect.Type, path string) string {
	var out []string
	for _, name := range strings.Split(path, ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out = append(out, name)
			t = nil
			continue
		}
		if f, ok := t.FieldByName(name); ok && f.Anonymous && f.Tag.Get("json") == "" {
			t = f.Type
			continue
		}
		out = append(out, name)
		var next reflect.Type
		for i := range t.NumField() {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name || (tag == "" && f.Name == name) {
				next = f.Type
			}
		}
		t = next
	}
	return strings.Join(out, ".")
}
