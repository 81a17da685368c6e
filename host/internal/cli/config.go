package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/redact"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func newConfig(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check and show the configuration",
		Long: `config works on the configuration the host would start with: defaults, then the
file (mikrobill.hcl, --config or $MIKROBILL_CONFIG), then environment
variables (the old system's names included: DB_*, REDIS_*, JWT_SECRET, ...),
then flags. Both commands only read: nothing is written, no secret is
generated. See docs/configuration.md for every key.`,
	}
	cmd.AddCommand(newConfigCheck(g), newConfigShow(g))
	return cmd
}

func newConfigCheck(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check the configuration without starting anything",
		Long: `check loads and validates the configuration as serve would, including the
production rule that the JWT secret, the cookie secret and the encryption key
must be configured, and the secrets kept in <data_dir>/secrets.json outside
production. It writes nothing: secrets that serve would generate are only
reported.

It prints one line and exits 0 when the configuration is usable:

  configuration ok: mikrobill.hcl, environment production, database postgres, cache redis

Otherwise it prints every problem at once and exits 1. Warnings (such as a
short secret outside production) go to standard error and do not fail the
check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Check(g.configFile, g.environ, g.overrides(cmd))
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			if missing := cfg.MissingSecrets(); len(missing) > 0 {
				fmt.Fprintf(g.stderr, "note: %s not set; serve generates them at start and keeps them in %s\n", strings.Join(missing, ", "), cfg.SecretsPath())
			}
			file := cfg.File
			if file == "" {
				file = "no file"
			}
			if cfg.EnvFile != "" {
				file += " and " + cfg.EnvFile
			}
			db, cache := "sqlite", "memory"
			if cfg.UsesPostgres() {
				db = "postgres"
			}
			if cfg.UsesRedis() {
				cache = "redis"
			}
			fmt.Fprintf(g.stdout, "configuration ok: %s, environment %s, database %s, cache %s\n", file, cfg.Environment, db, cache)
			return nil
		},
	}
}

func newConfigShow(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, secrets redacted",
		Long: `show prints the configuration the host would start with, every key with its
effective value, as HCL in the shape of mikrobill.hcl (or as JSON with
--json).

Secrets are never printed: the JWT secret, the cookie secret, the encryption
key and the router password appear as "<redacted, from env>" (or "from file",
or "from generated" for those kept in <data_dir>/secrets.json); the passwords
in the database and cache URLs, and their password-like parameters, as
"xxxxx"; and a plugin's secret settings as "<redacted, from file>": those its
config_schema marks when it is in the plugin directory, those whose names
look secret (containing pass, secret, token, key, credential or private)
otherwise. Secrets not set yet are shown as null.

Like check, show writes nothing; problems with the secrets are reported on
standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			if err := cfg.CheckSecrets(); err != nil {
				for line := range strings.SplitSeq(err.Error(), "\n") {
					fmt.Fprintln(g.stderr, "warning:", line)
				}
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			tree, err := configTree(cfg)
			if err != nil {
				return err
			}
			if asJSON {
				out, err := renderJSON(tree)
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(out)
				return err
			}
			_, err = g.stdout.Write(renderHCL(tree))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of HCL")
	return cmd
}

// overrides are the global flags as config.Overrides, as globals.load
// builds them.
func (g *globals) overrides(cmd *cobra.Command) config.Overrides {
	o := config.Overrides{PluginDir: g.pluginDir, DataDir: g.dataDir, LogLevel: g.logLevel, EnvFile: g.envFile}
	if cmd.Flags().Changed("log-json") {
		v := g.logJSON
		o.LogJSON = &v
	}
	return o
}

// node is one attribute or block of the shown configuration. A node with
// only a comment is a comment line in HCL (and nothing in JSON); a node with
// jsonOnly is a value that has no place in the file.
type node struct {
	key      string
	comment  string     // a line above it, in HCL only
	value    *cty.Value // an attribute
	block    []node     // a block's body
	label    string     // a labelled block (plugin "<name>"); in JSON it nests under key, then label
	jsonOnly bool
	raw      any // the jsonOnly value
}

func attr(key string, v cty.Value) node { return node{key: key, value: &v} }

// find returns the node of a key in nodes, or nil.
func find(nodes []node, key string) *node {
	for i := range nodes {
		if nodes[i].key == key && nodes[i].label == "" {
			return &nodes[i]
		}
	}
	return nil
}

// child returns the block of a key in b, made at its end if it is not there.
func (b *node) child(key string) *node {
	if n := find(b.block, key); n != nil {
		return n
	}
	b.block = append(b.block, node{key: key, block: []node{}})
	return &b.block[len(b.block)-1]
}

// missingSecretsNote is a comment on the secrets that are not set.
func missingSecretsNote(cfg *config.Config) []node {
	missing := cfg.MissingSecrets()
	if len(missing) == 0 {
		return nil
	}
	for i, m := range missing {
		missing[i] = strings.TrimPrefix(m, "security.")
	}
	how := "generated at start and kept in " + cfg.SecretsPath()
	if cfg.IsProduction() {
		how = "production refuses to start without them"
	}
	return []node{{comment: "not set (null): " + strings.Join(missing, ", ") + "; " + how}}
}

// settingsValue is a plugin's settings as a cty value, its secret fields
// redacted by the rule of every place that shows plugin settings
// (manifest.SecretFieldsOf): the config_schema's of an installed plugin
// (m), the fields whose names look secret otherwise.
func settingsValue(raw json.RawMessage, m *manifest.Manifest) (cty.Value, error) {
	tree, err := store.DecodeSettings(raw) // numbers keep their digits
	if err != nil {
		return cty.NilVal, err
	}
	redact.Fields(tree, manifest.SecretFieldsOf(m, tree), config.SourceFile.Redacted())
	red, err := json.Marshal(tree)
	if err != nil {
		return cty.NilVal, err
	}
	t, err := ctyjson.ImpliedType(red)
	if err != nil {
		return cty.NilVal, err
	}
	return ctyjson.Unmarshal(red, t)
}

// installedManifests are the manifests of the plugins in the plugin
// directory, by name; none when it cannot be read.
func installedManifests(dir string) map[string]*manifest.Manifest {
	out := map[string]*manifest.Manifest{}
	found, _ := plugins.Discover(dir)
	for _, f := range found {
		if f.Manifest != nil {
			out[f.Name] = f.Manifest
		}
	}
	return out
}

// configTree is the effective configuration, secrets redacted, in the shape
// of mikrobill.hcl: every declared setting (config.Settings) in its block,
// as Setting.Show shows it, then the plugin blocks.
func configTree(cfg *config.Config) ([]node, error) {
	file := cfg.File
	if file == "" {
		file = "no file"
	}
	debug := append([]string{}, cfg.DebugPlugins...)
	top := []node{
		{key: "file", jsonOnly: true, raw: cfg.File},
		{key: "env_file", jsonOnly: true, raw: cfg.EnvFile},
		{key: "debug_plugins", jsonOnly: true, raw: debug},
		{key: "warnings", jsonOnly: true, raw: append([]string{}, cfg.Warnings()...)},
	}

	// The default router is shown with its port filled in, and only when
	// there is one.
	shown := *cfg
	loc, hasRouter := cfg.DefaultRouter()
	shown.Router.DefaultLocation = loc
	body := &node{}
	for _, s := range config.Settings() {
		if s.Key == "" || (!hasRouter && strings.HasPrefix(s.Key, "router.")) {
			continue // DEBUG has no key in the file
		}
		parts := strings.Split(s.Key, ".")
		b := body
		for _, name := range parts[:len(parts)-1] {
			b = b.child(name)
		}
		b.block = append(b.block, attr(parts[len(parts)-1], s.Show(&shown)))
	}
	if !hasRouter {
		body.block = append(body.block, node{key: "router", block: []node{},
			comment: "no default router location (router.default_location or MIKROTIK_HOST)"})
	}

	if cfg.EnvFile != "" {
		file += ", environment file " + cfg.EnvFile
	}
	find(body.block, "environment").comment = "Effective configuration (" + file + "); secrets are redacted."
	if len(debug) > 0 {
		i := slices.IndexFunc(body.block, func(n node) bool { return n.key == "log_json" })
		body.block = slices.Insert(body.block, i+1, node{comment: "DEBUG turns these plugins' logs to debug: " + strings.Join(debug, ", ")})
	}
	if cfg.Database.URL == "" {
		find(find(body.block, "database").block, "url").comment = "empty: the embedded SQLite database, " + filepath.Join(cfg.DataDir, store.FileName)
	}
	if cfg.Cache.URL == "" {
		find(find(body.block, "cache").block, "url").comment = "empty: the in-memory cache"
	}
	// The address gateways and customers are given: public_url, or derived.
	pub := find(find(body.block, "server").block, "public_url")
	if cfg.Server.PublicURL == "" {
		pub.comment = "empty: derived from the listen address, " + cfg.BaseURL(cfg.Addr()) + "; gateways send their webhooks to " + cfg.BaseURL(cfg.Addr()) + "/webhooks/<plugin>. Set it to the address they can reach"
	} else {
		pub.comment = "gateways send their webhooks to " + cfg.BaseURL(cfg.Addr()) + "/webhooks/<plugin>"
	}
	sec := find(body.block, "security")
	sec.block = append(missingSecretsNote(cfg), sec.block...)
	top = append(top, body.block...)

	names := make([]string, 0, len(cfg.Plugin))
	for name := range cfg.Plugin {
		names = append(names, name)
	}
	sort.Strings(names)
	var installed map[string]*manifest.Manifest
	if len(names) > 0 {
		installed = installedManifests(cfg.Plugins.Dir)
	}
	for _, name := range names {
		pc := cfg.Plugin[name]
		var body, restart []node
		if pc.Required != nil {
			body = append(body, attr("required", cty.BoolVal(*pc.Required)))
		}
		body = append(body, attr("disabled", cty.BoolVal(pc.Disabled)))
		if len(pc.Environment) > 0 {
			body = append(body, attr("environment", cty.ListVal(ctyStrings(pc.Environment))))
		}
		// Only the keys this plugin overrides.
		for _, o := range pc.Overrides() {
			if key, ok := strings.CutPrefix(o.Key, "restart."); ok {
				restart = append(restart, attr(key, o.Value))
			} else {
				body = append(body, attr(o.Key, o.Value))
			}
		}
		if len(restart) > 0 {
			body = append(body, node{key: "restart", block: restart})
		}
		settings, err := settingsValue(cfg.PluginSettings(name), installed[name])
		if err != nil {
			return nil, fmt.Errorf("plugin %q settings: %w", name, err)
		}
		body = append(body, attr("config", settings))
		top = append(top, node{key: "plugin", label: name, block: body})
	}
	if len(names) == 0 {
		top = append(top, node{key: "plugin", jsonOnly: true, raw: map[string]any{}})
	}
	markets := make([]string, 0, len(cfg.Marketplaces))
	for name := range cfg.Marketplaces {
		markets = append(markets, name)
	}
	sort.Strings(markets)
	for _, name := range markets {
		m := cfg.Marketplaces[name]
		top = append(top, node{key: "marketplace", label: name, block: []node{attr("url", cty.StringVal(m.URL)), attr("root", cty.StringVal(m.Root))}})
	}
	if len(markets) == 0 {
		top = append(top, node{key: "marketplace", jsonOnly: true, raw: map[string]any{}})
	}
	return top, nil
}

func ctyStrings(list []string) []cty.Value {
	vals := make([]cty.Value, len(list))
	for i, s := range list {
		vals[i] = cty.StringVal(s)
	}
	return vals
}

// renderHCL writes the tree as HCL; JSON-only nodes are left out.
func renderHCL(tree []node) []byte {
	f := hclwrite.NewEmptyFile()
	writeBody(f.Body(), tree, true)
	return hclwrite.Format(f.Bytes())
}

func writeBody(b *hclwrite.Body, nodes []node, top bool) {
	for _, n := range nodes {
		if n.jsonOnly {
			continue
		}
		if top && n.block != nil {
			b.AppendNewline()
		}
		if n.comment != "" {
			b.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + n.comment + "\n")}})
		}
		switch {
		case n.key == "":
			continue // a comment line
		case n.value != nil:
			b.SetAttributeValue(n.key, *n.value)
			continue
		}
		var labels []string
		if n.label != "" {
			labels = []string{n.label}
		}
		blk := b.AppendNewBlock(n.key, labels)
		writeBody(blk.Body(), n.block, false)
	}
}

// renderJSON writes the tree as an indented JSON object, keys in the
// file's order; labelled blocks nest under their key, then their label.
func renderJSON(tree []node) ([]byte, error) {
	raw, err := jsonObject(tree)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// marshalJSON is json.Marshal without HTML escaping, so that
// "<redacted, from env>" reads as it is.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ctyJSON is a cty value as JSON, without HTML escaping.
func ctyJSON(v cty.Value) ([]byte, error) {
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var decoded any
	if err := dec.Decode(&decoded); err != nil {
		return nil, err
	}
	return marshalJSON(decoded)
}

func jsonObject(nodes []node) ([]byte, error) {
	type entry struct {
		key     string
		raw     []byte
		labeled []node
	}
	var entries []*entry
	groups := map[string]*entry{}
	for _, n := range nodes {
		if n.key == "" {
			continue // an HCL comment line
		}
		if n.label != "" {
			e := groups[n.key]
			if e == nil {
				e = &entry{key: n.key}
				groups[n.key] = e
				entries = append(entries, e)
			}
			e.labeled = append(e.labeled, n)
			continue
		}
		var raw []byte
		var err error
		switch {
		case n.jsonOnly:
			raw, err = marshalJSON(n.raw)
		case n.value != nil:
			raw, err = ctyJSON(*n.value)
		default:
			raw, err = jsonObject(n.block)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.key, err)
		}
		entries = append(entries, &entry{key: n.key, raw: raw})
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(e.key)
		buf.Write(k)
		buf.WriteByte(':')
		if e.labeled == nil {
			buf.Write(e.raw)
			continue
		}
		buf.WriteByte('{')
		for j, n := range e.labeled {
			if j > 0 {
				buf.WriteByte(',')
			}
			l, _ := json.Marshal(n.label)
			buf.Write(l)
			buf.WriteByte(':')
			raw, err := jsonObject(n.block)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", n.key, n.label, err)
			}
			buf.Write(raw)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
