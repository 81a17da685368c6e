package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// FuzzApplyFile feeds mikrobill.hcl bytes to the file layer of Load. A file
// it refuses gets an error that starts "configuration: " and says what is
// wrong; from a file it accepts, Validate answers without panicking, every
// plugin's config is a JSON object, and the settings, written back as
// `config show` writes them (HCL in the shape of mikrobill.hcl, secrets
// left out), read again as the same values.
func FuzzApplyFile(f *testing.F) {
	files, err := filepath.Glob("testdata/*.hcl")
	if err != nil || len(files) == 0 {
		f.Fatalf("seed files testdata/*.hcl: none found (%v)", err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("server {\n  port = 8080\n}\nplugin \"payment-midtrans\" {\n  config = { server_key = \"SB-Mid-server-x\" }\n}\n"))
	f.Add([]byte("jobs {\n  reminder_days = [7, 3, 1]\n}\n"))
	f.Add([]byte("plugin \"x\" {\n  config = [1, 2]\n}\n"))
	f.Add([]byte("server { port = \"${1+1}\" }\n"))

	const file = "fuzz/mikrobill.hcl"
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg := DefaultConfig()
		if err := applyFile(cfg, file, src); err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "configuration: ") || len(strings.TrimSpace(strings.TrimPrefix(msg, "configuration: "))) == 0 {
				t.Fatalf("error does not say what is wrong: %q", msg)
			}
			return
		}
		_ = cfg.Validate()
		for name, pc := range cfg.Plugin {
			if pc == nil {
				t.Fatalf("plugin %q has no configuration", name)
			}
			if len(pc.Settings) == 0 {
				continue
			}
			var obj map[string]any
			if err := json.Unmarshal(pc.Settings, &obj); err != nil || obj == nil {
				t.Fatalf("plugin %q config is not a JSON object (%v): %s", name, err, pc.Settings)
			}
		}

		out := hclwrite.NewEmptyFile()
		for _, s := range settings {
			if s.Key == "" || s.Secret {
				continue
			}
			v := s.Show(cfg)
			if v.IsNull() {
				continue
			}
			body := out.Body()
			parts := strings.Split(s.Key, ".")
			for _, name := range parts[:len(parts)-1] {
				blk := body.FirstMatchingBlock(name, nil)
				if blk == nil {
					blk = body.AppendNewBlock(name, nil)
				}
				body = blk.Body()
			}
			body.SetAttributeValue(parts[len(parts)-1], v)
		}
		shown := hclwrite.Format(out.Bytes())
		again := DefaultConfig()
		if err := applyFile(again, file, shown); err != nil {
			t.Fatalf("the settings written back do not read: %v\n%s", err, shown)
		}
		for _, s := range settings {
			if s.Key == "" || s.Secret {
				continue
			}
			if a, b := s.Show(cfg), s.Show(again); !a.RawEquals(b) {
				t.Fatalf("%s reads as %#v, written back and read again as %#v\n%s", s.Key, a, b, shown)
			}
		}
	})
}
