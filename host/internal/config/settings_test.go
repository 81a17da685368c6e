package config

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

const docFile = "../../../docs/configuration.md"

// docRow is one row of a table of docs/configuration.md.
type docRow struct {
	line  int
	cells []string
}

// docTables reads the tables of the operator's reference: the keys of each
// block (| Key | Type | Default | Meaning |) by their full key, the plugin
// block's keys, and the environment variables (| Variable | Sets | Value |).
func docTables(t *testing.T) (keys map[string]docRow, pluginKeys []string, vars map[string]docRow) {
	t.Helper()
	raw, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatalf("read the operator's reference: %v", err)
	}
	keys, vars = map[string]docRow{}, map[string]docRow{}
	var prefix, section, header string
	block := map[string]string{} // heading level 3's prefix, for level 4
	for i, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "### "):
			section = strings.TrimPrefix(line, "### ")
			prefix = section + "."
			if section == "Top level" {
				prefix = ""
			}
			block["3"] = prefix
			header = ""
			continue
		case strings.HasPrefix(line, "#### "):
			section = strings.TrimPrefix(line, "#### ")
			prefix = block["3"] + section + "."
			header = ""
			continue
		case !strings.HasPrefix(line, "|"):
			header = ""
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		switch {
		case header == "":
			header = strings.Join(cells, "|")
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		row := docRow{line: i + 1, cells: cells}
		switch header {
		case "Key|Type|Default|Meaning":
			for _, k := range backticked(cells[0]) {
				if strings.HasPrefix(section, "plugin ") {
					pluginKeys = append(pluginKeys, k)
					continue
				}
				if strings.HasPrefix(cells[1], "block") {
					continue
				}
				keys[prefix+k] = row
			}
		case "Variable|Sets|Value":
			for _, v := range backticked(cells[0]) {
				vars[v] = row
			}
		}
	}
	if len(keys) == 0 || len(vars) == 0 || len(pluginKeys) == 0 {
		t.Fatalf("%s: no key tables, plugin block table or variable table found", docFile)
	}
	return keys, pluginKeys, vars
}

var backtickRE = regexp.MustCompile("`([^`]*)`")

// backticked returns the texts between backticks in s, in order.
func backticked(s string) []string {
	var out []string
	for _, m := range backtickRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDocumentedSettings holds docs/configuration.md to the declarations:
// every setting has its row with its default and its variables, and the
// reference names no key and no variable that is not declared.
func TestDocumentedSettings(t *testing.T) {
	keys, docPluginKeys, vars := docTables(t)
	declared := map[string]*Setting{}
	for _, s := range settings {
		if s.Key != "" {
			declared[s.Key] = s
		}
		for _, v := range s.Env {
			row, ok := vars[v]
			if !ok {
				t.Errorf("%s: %s sets %s, but the table of environment variables has no row for it", docFile, v, s.key())
				continue
			}
			if sets := backticked(row.cells[1]); len(sets) > 0 && s.Key != "" && sets[0] != s.Key {
				t.Errorf("%s:%d: %s sets %s, not %s", docFile, row.line, v, s.Key, sets[0])
			}
		}
		if s.Key == "" {
			continue
		}
		row, ok := keys[s.Key]
		if !ok {
			t.Errorf("%s: %s is not documented: add its row to the table of its block", docFile, s.Key)
			continue
		}
		checkDocDefault(t, s, row)
		for _, m := range regexp.MustCompile("Env: `([A-Z_]+)`").FindAllStringSubmatch(row.cells[3], -1) {
			if !slices.Contains(s.Env, m[1]) {
				t.Errorf("%s:%d: %s is said to be set by %s, which its declaration does not list (%v)", docFile, row.line, s.Key, m[1], s.Env)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if declared[k] == nil {
			t.Errorf("%s:%d: %s is documented but not declared", docFile, keys[k].line, k)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(vars)) {
		if v == envConfigFile || v == envEnvFile {
			continue
		}
		if !slices.ContainsFunc(settings, func(s *Setting) bool { return slices.Contains(s.Env, v) }) {
			t.Errorf("%s:%d: %s is documented but no setting declares it", docFile, vars[v].line, v)
		}
	}

	// The defaults the host hands the notify plugin are named in the rows
	// of the settings they come from.
	from := map[string]string{"message_delay_ms": "notifications.message_delay", "max_sessions": "notifications.max_sessions"}
	defs := DefaultConfig().PluginDefaults("whatsapp")
	for field := range defs {
		key, ok := from[field]
		if !ok {
			t.Errorf("the notify plugin gets a default %s from a setting this test does not know: add it here and to its row in %s", field, docFile)
			continue
		}
		if row, ok := keys[key]; ok && !strings.Contains(row.cells[3], "`"+field+"`") {
			t.Errorf("%s:%d: %s's row does not say it is the notify plugin's %s", docFile, row.line, key, field)
		}
	}
	if len(defs) != len(from) {
		t.Errorf("the notify plugin gets defaults %v, want %v", slices.Sorted(maps.Keys(defs)), slices.Sorted(maps.Keys(from)))
	}

	var plugin []string
	for _, a := range pluginKeys.Attributes {
		plugin = append(plugin, a.Name)
	}
	for _, s := range overridesBlock.attrs {
		plugin = append(plugin, s.leaf())
	}
	plugin = append(plugin, overridesBlock.blocks...)
	slices.Sort(plugin)
	slices.Sort(docPluginKeys)
	if diff := cmp.Diff(plugin, docPluginKeys); diff != "" {
		t.Errorf("%s: the plugin block's keys differ from its table (-declared +documented):\n%s", docFile, diff)
	}
}

// key names a setting in messages.
func (s *Setting) key() string {
	if s.Key == "" {
		return "a setting with no key (" + strings.Join(s.Env, ", ") + ")"
	}
	return s.Key
}

// checkDocDefault checks that a row's Default cell gives the declared
// default: DocDefault as written, or a literal in backticks first that
// reads as the same value ("72s" for 1m12s).
func checkDocDefault(t *testing.T, s *Setting, row docRow) {
	t.Helper()
	cell := row.cells[2]
	if s.DocDefault != "" {
		if !strings.HasPrefix(cell, s.DocDefault) {
			t.Errorf("%s:%d: %s's default is written %q, want %q", docFile, row.line, s.Key, cell, s.DocDefault)
		}
		return
	}
	lits := backticked(cell)
	if len(lits) == 0 || !strings.HasPrefix(cell, "`") {
		t.Errorf("%s:%d: %s's default %q does not start with a value in backticks (want %s)", docFile, row.line, s.Key, cell, s.v.defaultValue().GoString())
		return
	}
	expr, diags := hclsyntax.ParseExpression([]byte(lits[0]), docFile, hcl.InitialPos)
	if diags.HasErrors() {
		t.Errorf("%s:%d: %s's default `%s` is not an HCL value: %s", docFile, row.line, s.Key, lits[0], diags.Error())
		return
	}
	doc := &Config{}
	if diags := s.v.decode(doc, s, expr); diags.HasErrors() {
		t.Errorf("%s:%d: %s's default `%s` is not a value of the setting: %s", docFile, row.line, s.Key, lits[0], diags.Error())
		return
	}
	if got, want := s.v.show(doc), s.v.defaultValue(); !got.RawEquals(want) {
		t.Errorf("%s:%d: %s's default is documented as `%s`, declared as %s", docFile, row.line, s.Key, lits[0], want.GoString())
	}
}

// TestDeclarations checks the table itself: keys and variables are named
// once, a secret either records its source or is a URL, and every reader
// of the environment reads only the variables its setting declares (a
// reader that reads another panics).
func TestDeclarations(t *testing.T) {
	keys, vars := map[string]bool{}, map[string]string{}
	env := map[string]string{}
	for _, s := range settings {
		if keys[s.Key] {
			t.Errorf("%q is declared twice", s.Key)
		}
		keys[s.Key] = true
		for _, v := range s.Env {
			if other, ok := vars[v]; ok {
				t.Errorf("%s is declared by %s and %s", v, other, s.key())
			}
			vars[v] = s.key()
			env[v] = "1"
		}
		if f, ok := s.v.(*field[string]); ok && s.Secret != (f.source != nil || f.url) {
			t.Errorf("%s: Secret is %v, but its field records a source %v, is a URL %v", s.key(), s.Secret, f.source != nil, f.url)
		}
	}
	cfg := DefaultConfig()
	for _, s := range settings {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", s.key(), r)
				}
			}()
			_ = s.v.readEnv(cfg, s, env)
		}()
	}
}

// TestEmptyListsStayEmpty: `reminder_days = []` is no reminders, not the
// default: the list is empty, not nil (billing.Config tells the two apart).
func TestEmptyListsStayEmpty(t *testing.T) {
	path := t.TempDir() + "/mikrobill.hcl"
	if err := os.WriteFile(path, []byte("jobs {\n  reminder_days = []\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Jobs.ReminderDays == nil || len(cfg.Jobs.ReminderDays) != 0 {
		t.Errorf("reminder_days = %#v, want an empty list", cfg.Jobs.ReminderDays)
	}
}

// TestDuplicateBlock: a block given twice is an error at the second, as
// a plugin block given twice is.
func TestDuplicateBlock(t *testing.T) {
	path := t.TempDir() + "/mikrobill.hcl"
	src := "server {\n  port = 1\n}\n\nserver {\n  host = \"h\"\n}\nplugin \"a\" {\n  restart {}\n  restart {}\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil, Overrides{})
	for _, w := range []string{path + ":5:1: Duplicate server block", "another was defined at " + path + ":1", path + ":10:3: Duplicate restart block"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Load error does not contain %q:\n%v", w, err)
		}
	}
}
