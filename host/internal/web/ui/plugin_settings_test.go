package ui

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testSchema = `{"type": "object", "required": ["key"], "properties": {
	"key": {"type": "string", "title": "Key", "writeOnly": true},
	"mode": {"type": "string", "enum": ["test", "live"], "default": "test"},
	"retries": {"type": "integer", "minimum": 1, "maximum": 9, "default": 3},
	"ratio": {"type": "number"},
	"verbose": {"type": "boolean"},
	"tags": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
	"accounts": {"type": "array", "items": {"type": "object", "properties": {
		"id": {"type": "string"}, "token": {"type": "string", "format": "password"}}}},
	"proxy": {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": ["integer", "null"]}}}
}}`

func testSchemaRoot(t *testing.T) *schema {
	t.Helper()
	var s schema
	if err := json.Unmarshal([]byte(testSchema), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestSettingsFormFields: the form follows the schema's order and types;
// secrets say whether they are set, never their value; the host's
// problems go to the nearest field up their path, the rest above the form.
func TestSettingsFormFields(t *testing.T) {
	root := testSchemaRoot(t)
	saved := map[string]any{"key": "<redacted>", "retries": 5.0, "accounts": []any{map[string]any{"id": "x", "token": "<redacted>"}}}
	b := formBuilder{saved: saved, redacted: "<redacted>", errs: map[string]string{"retries": "maximum: got 10, want 9", "accounts/0/token": "too short", "settings": "whole"}}
	for k, v := range b.errs {
		delete(b.errs, k)
		b.errs[strings.ReplaceAll(k, "/", ".")] = v
	}
	fs := b.fields(root, "", saved)
	var got []string
	for _, f := range fs {
		got = append(got, f.Name+":"+f.Kind)
	}
	want := []string{"key:password", "mode:select", "retries:integer", "ratio:number", "verbose:boolean", "tags:lines", "accounts:objects", "proxy:object"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if !fs[0].Set || fs[0].Value != "" || !fs[0].Required {
		t.Errorf("key: %+v; want set, no value shown, required", fs[0])
	}
	if fs[2].Value != "5" || fs[2].Min != "1" || fs[2].Max != "9" || fs[2].Default != "3" || fs[2].Error != "maximum: got 10, want 9" {
		t.Errorf("retries: %+v", fs[2])
	}
	if fs[5].Default != "a, b" {
		t.Errorf("tags' default %q", fs[5].Default)
	}
	item := fs[6].Items[0].Fields[1]
	if item.Name != "accounts.0.token" || !item.Set || item.Error != "too short" {
		t.Errorf("an item's secret: %+v", item)
	}
	if fs[7].Fields[1].Kind != "integer" {
		t.Errorf("a nullable integer is a %s", fs[7].Fields[1].Kind)
	}
	if diff := cmp.Diff(map[string]string{"settings": "whole"}, b.errs); diff != "" {
		t.Errorf("problems left for above the form (-want +got):\n%s", diff)
	}
}

// TestSettingsFormValue: what the form posts becomes the JSON the API
// takes: empty inputs left out (the default applies), an empty secret
// input the redacted value when a secret is stored, numbers typed, a
// value that is no number sent as it is for the host to explain, lists
// one per line, lists of objects by index, nested objects.
func TestSettingsFormValue(t *testing.T) {
	u := &UI{deps: Deps{RedactedValue: "<redacted>"}}
	root := testSchemaRoot(t)
	saved := map[string]any{"key": "<redacted>", "accounts": []any{map[string]any{"id": "x", "token": "<redacted>"}}}
	form := url.Values{
		"key": {""}, "mode": {""}, "retries": {"7"}, "ratio": {"abc"}, "verbose": {"true"},
		"tags": {"one\r\n\n two \n"}, "accounts.n": {"2"}, "accounts.0.id": {"x"}, "accounts.0.token": {""},
		"accounts.1.id": {"y"}, "accounts.1.token": {"new-token"}, "proxy.host": {""}, "proxy.port": {"8080"},
	}
	got := u.formValue(root, "", form, saved, true)
	want := map[string]any{
		"key": "<redacted>", "retries": int64(7), "ratio": "abc", "verbose": true, "tags": []any{"one", "two"},
		"accounts": []any{map[string]any{"id": "x", "token": "<redacted>"}, map[string]any{"id": "y", "token": "new-token"}},
		"proxy":    map[string]any{"port": int64(8080)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("posted form (-want +got):\n%s", diff)
	}
	// Nothing stored: an empty secret is left out.
	if v := u.formValue(root, "", url.Values{"key": {""}}, nil, true); len(v.(map[string]any)) != 0 {
		t.Errorf("an empty form without stored secrets: %v; want {}", v)
	}
}

// TestEditList: the add and remove buttons of a list of objects.
func TestEditList(t *testing.T) {
	v := map[string]any{"accounts": []any{map[string]any{"id": "x"}, map[string]any{"id": "y"}}}
	editList(v, "remove:accounts.0")
	editList(v, "add:accounts")
	editList(v, "add:proxy.list")
	editList(v, "remove:accounts.9")
	want := map[string]any{"accounts": []any{map[string]any{"id": "y"}, map[string]any{}}, "proxy": map[string]any{"list": []any{map[string]any{}}}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
