package manifest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestConfigSchemaCompiledOnce(t *testing.T) {
	raw := json.RawMessage(`{"type": "object", "properties": {"api_key": {"type": "string", "minLength": 8}}, "required": ["api_key"]}`)
	first, msgs := compileSchema(raw)
	if first == nil || len(msgs) > 0 {
		t.Fatalf("compile: %v", msgs)
	}
	again, _ := compileSchema(append(json.RawMessage(nil), raw...))
	if again != first {
		t.Fatal("the same config_schema was compiled again instead of reused")
	}

	// One compiled schema validates from many goroutines (go test -race).
	m := &Manifest{Name: "demo", ConfigSchema: raw}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			good := m.ValidateSettings(json.RawMessage(`{"api_key": "12345678"}`))
			bad := m.ValidateSettings(json.RawMessage(`{"api_key": "short"}`))
			if good != nil || bad == nil || !strings.Contains(bad.Error(), "api_key") {
				t.Errorf("goroutine %d: valid settings: %v; short api_key: %v", i, good, bad)
			}
		})
	}
	wg.Wait()

	// A schema that does not compile is not kept: it fails each time.
	broken := json.RawMessage(`{"type": "object", "properties": {"x": {"type": "nonsense"}}}`)
	for range 2 {
		if s, msgs := compileSchema(broken); s != nil || len(msgs) == 0 {
			t.Fatalf("a broken schema compiled: %v %v", s, msgs)
		}
	}
	compiled.Lock()
	_, kept := compiled.m[string(broken)]
	compiled.Unlock()
	if kept {
		t.Fatal("a schema that does not compile was kept")
	}
}
