package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// DefaultFile is read when no file is named and it exists in the working
// directory.
const DefaultFile = "mikrobill.hcl"

// Overrides are the command-line flags; empty values leave the setting alone.
type Overrides struct {
	// Listen is host:port.
	Listen    string
	PluginDir string
	DataDir   string
	LogLevel  string
	LogJSON   *bool
	// EnvFile is a dotenv file whose variables apply under the process
	// environment (a variable set in both keeps the process's value).
	EnvFile string
}

// Load builds the configuration: defaults, then the file (path, or
// DefaultFile when path is empty and it exists, or MIKROBILL_CONFIG), then
// environ (os.Environ() form), then flags. It validates the result. It
// writes nothing: secrets are settled later by ResolveSecrets.
func Load(path string, environ []string, flags Overrides) (*Config, error) {
	cfg, err := build(path, environ, flags)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// Check is Load followed by CheckSecrets, with the problems of both
// reported at once: what `mikrobill config check` runs. Like Load it writes
// nothing.
func Check(path string, environ []string, flags Overrides) (*Config, error) {
	cfg, err := build(path, environ, flags)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(cfg.Validate(), cfg.CheckSecrets()); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// build applies the layers without validating.
func build(path string, environ []string, flags Overrides) (*Config, error) {
	cfg := declaredDefaults()
	envFile, err := readEnvFile(flags.EnvFile, envMap(environ))
	if err != nil {
		return nil, err
	}
	if envFile != nil {
		environ = append(envFile.vars, environ...)
		cfg.EnvFile = envFile.path
	}
	env := envMap(environ)
	explicit := path != ""
	if path == "" {
		path = env[envConfigFile]
		explicit = path != ""
	}
	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		}
	}
	if path != "" {
		src, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist) && explicit:
			return nil, fmt.Errorf("configuration file %s does not exist; create it (see docs/configuration.md) or leave --config out to use defaults", path)
		case err != nil:
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		if err := applyFile(cfg, path, src); err != nil {
			return nil, err
		}
		cfg.File = path
	}
	if err := applyEnv(cfg, env); err != nil {
		return nil, err
	}
	if err := applyFlags(cfg, flags); err != nil {
		return nil, err
	}
	cfg.settleStoreDefaults()
	// Plugins are executed from their own folders: a relative plugin
	// directory would not find them there.
	if cfg.Plugins.Dir != "" && !filepath.IsAbs(cfg.Plugins.Dir) {
		abs, err := filepath.Abs(cfg.Plugins.Dir)
		if err != nil {
			return nil, fmt.Errorf("plugins.dir %s: %w", cfg.Plugins.Dir, err)
		}
		cfg.Plugins.Dir = abs
	}
	return cfg, nil
}

type envFileVars struct {
	path string
	vars []string
}

// readEnvFile reads the named dotenv file, or $MIKROBILL_ENV_FILE, or
// DefaultEnvFile when it exists. It returns nil when there is none.
func readEnvFile(path string, env map[string]string) (*envFileVars, error) {
	explicit := path != ""
	if path == "" {
		path = env[envEnvFile]
		explicit = path != ""
	}
	if path == "" {
		if _, err := os.Stat(DefaultEnvFile); err != nil {
			return nil, nil
		}
		path = DefaultEnvFile
	}
	vars, err := ReadEnvFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && explicit:
		return nil, fmt.Errorf("environment file %s does not exist; check --env-file or MIKROBILL_ENV_FILE", path)
	case err != nil && !strings.HasPrefix(err.Error(), path+":"):
		return nil, fmt.Errorf("read environment file: %w", err)
	case err != nil:
		return nil, fmt.Errorf("environment file %w", err)
	}
	return &envFileVars{path: path, vars: vars}, nil
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// block is a block of mikrobill.hcl as the declarations make it up: the
// settings it holds as attributes, and its blocks, in declaration order.
type block struct {
	attrs  []*Setting
	blocks []string
	nested map[string]*block
}

// newBlock makes the block whose keys start with prefix ("" for the whole
// file, "plugins." for the plugins block) from the given settings.
func newBlock(settings []*Setting, prefix string) *block {
	root := &block{nested: map[string]*block{}}
	for _, s := range settings {
		rel, ok := strings.CutPrefix(s.Key, prefix)
		if s.Key == "" || !ok {
			continue
		}
		b := root
		parts := strings.Split(rel, ".")
		for _, name := range parts[:len(parts)-1] {
			next := b.nested[name]
			if next == nil {
				next = &block{nested: map[string]*block{}}
				b.nested[name] = next
				b.blocks = append(b.blocks, name)
			}
			b = next
		}
		b.attrs = append(b.attrs, s)
	}
	return root
}

// fileBlock is the whole file.
var fileBlock = newBlock(settings, "")

// schema is the block's schema, with extra's attributes and blocks.
func (b *block) schema(extra *hcl.BodySchema) *hcl.BodySchema {
	schema := &hcl.BodySchema{}
	for _, s := range b.attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: s.leaf()})
	}
	for _, name := range b.blocks {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: name})
	}
	if extra != nil {
		schema.Attributes = append(schema.Attributes, extra.Attributes...)
		schema.Blocks = append(schema.Blocks, extra.Blocks...)
	}
	return schema
}

// decode reads body as the block b (plus extra, which the caller reads from
// the content returned): every attribute is handed to set with its
// setting, every block is read as its nested block. Unknown attributes
// and blocks, and a block given twice, are errors with their position.
func (b *block) decode(body hcl.Body, extra *hcl.BodySchema, set func(*Setting, hcl.Expression) hcl.Diagnostics) (*hcl.BodyContent, hcl.Diagnostics) {
	content, diags := body.Content(b.schema(extra))
	if content == nil {
		return &hcl.BodyContent{}, diags
	}
	for _, s := range b.attrs {
		if a, ok := content.Attributes[s.leaf()]; ok {
			diags = append(diags, set(s, a.Expr)...)
		}
	}
	seen := map[string]*hcl.Block{}
	for _, blk := range content.Blocks {
		nested := b.nested[blk.Type]
		if nested == nil {
			continue // extra's, for the caller
		}
		if prev := seen[blk.Type]; prev != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Duplicate %s block", blk.Type),
				Detail: fmt.Sprintf("Only one %s block is allowed; another was defined at %s. Merge the two.", blk.Type, prev.DefRange), Subject: blk.DefRange.Ptr()})
			continue
		}
		seen[blk.Type] = blk
		_, d := nested.decode(blk.Body, nil, set)
		diags = append(diags, d...)
	}
	return content, diags
}

// pluginKeys are a plugin block's own keys; the plugins block's settings
// it may override (PluginConfig.overrides) come on top.
var pluginKeys = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "required"}, {Name: "disabled"}, {Name: "environment"}, {Name: "config"},
}}

// overridesBlock is the part of a plugin block that overrides the plugins
// block's settings.
var overridesBlock = func() *block {
	var ss []*Setting
	for _, o := range (&PluginConfig{}).overrides() {
		ss = append(ss, o.s)
	}
	return newBlock(ss, "plugins.")
}()

func applyFile(cfg *Config, path string, src []byte) error {
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return fmt.Errorf("configuration: %s", formatDiags(diags))
	}
	pluginBlock := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "plugin", LabelNames: []string{"name"}}, {Type: "marketplace", LabelNames: []string{"name"}}}}
	content, d := fileBlock.decode(f.Body, pluginBlock, func(s *Setting, expr hcl.Expression) hcl.Diagnostics {
		return s.v.decode(cfg, s, expr)
	})
	for _, blk := range content.Blocks {
		if blk.Type == "marketplace" {
			d = append(d, decodeMarketplace(cfg, path, blk)...)
			continue
		}
		if blk.Type != "plugin" {
			continue
		}
		name := blk.Labels[0]
		if _, dup := cfg.Plugin[name]; dup {
			d = append(d, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate plugin block",
				Detail: fmt.Sprintf("plugin %q is configured twice; merge the blocks", name), Subject: blk.DefRange.Ptr()})
			continue
		}
		pc, diags := decodePlugin(blk.Body)
		d = append(d, diags...)
		cfg.Plugin[name] = pc
	}
	if d.HasErrors() {
		return fmt.Errorf("configuration: %s", formatDiags(d))
	}
	return nil
}

// marketplaceKeys are a marketplace block's keys.
var marketplaceKeys = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}, {Name: "root", Required: true}}}

// decodeMarketplace reads a marketplace block into cfg.Marketplaces; a
// relative root is made relative to the file's folder.
func decodeMarketplace(cfg *Config, file string, blk *hcl.Block) hcl.Diagnostics {
	name := blk.Labels[0]
	if _, dup := cfg.Marketplaces[name]; dup {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Duplicate marketplace block",
			Detail: fmt.Sprintf("marketplace %q is configured twice; merge the blocks", name), Subject: blk.DefRange.Ptr()}}
	}
	content, d := blk.Body.Content(marketplaceKeys)
	m := &MarketplaceConfig{}
	if cfg.Marketplaces == nil {
		cfg.Marketplaces = map[string]*MarketplaceConfig{}
	}
	for key, dst := range map[string]*string{"url": &m.URL, "root": &m.Root} {
		if a, ok := content.Attributes[key]; ok {
			d = append(d, gohcl.DecodeExpression(a.Expr, nil, dst)...)
		}
	}
	if m.Root != "" && !filepath.IsAbs(m.Root) {
		m.Root = filepath.Join(filepath.Dir(file), m.Root)
	}
	cfg.Marketplaces[name] = m
	return d
}

// decodePlugin reads a plugin block's body.
func decodePlugin(body hcl.Body) (*PluginConfig, hcl.Diagnostics) {
	pc := &PluginConfig{}
	at := map[*Setting]any{}
	for _, o := range pc.overrides() {
		at[o.s] = o.at
	}
	content, d := overridesBlock.decode(body, pluginKeys, func(s *Setting, expr hcl.Expression) hcl.Diagnostics {
		return s.v.decodeTo(at[s], s, expr)
	})
	attr := func(name string, dst any) {
		if a, ok := content.Attributes[name]; ok && isSet(a.Expr) {
			d = append(d, gohcl.DecodeExpression(a.Expr, nil, dst)...)
		}
	}
	var required bool
	if a, ok := content.Attributes["required"]; ok && isSet(a.Expr) {
		attr("required", &required)
		pc.Required = &required
	}
	attr("disabled", &pc.Disabled)
	attr("environment", &pc.Environment)
	if a, ok := content.Attributes["config"]; ok {
		raw, diags := objectJSON(a.Expr, "config")
		d = append(d, diags...)
		pc.Settings = raw
	}
	return pc, d
}

// isSet reports whether an optional expression attribute was given.
func isSet(expr hcl.Expression) bool {
	if expr == nil {
		return false
	}
	v, diags := expr.Value(nil)
	return diags.HasErrors() || !v.IsNull()
}

// objectJSON renders an object expression as JSON.
func objectJSON(expr hcl.Expression, key string) ([]byte, hcl.Diagnostics) {
	if !isSet(expr) {
		return nil, nil
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, diags
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + key,
			Detail: key + " must be an object, for example config = { api_key = \"...\" }", Subject: expr.Range().Ptr()}}
	}
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + key, Detail: err.Error(), Subject: expr.Range().Ptr()}}
	}
	return raw, nil
}

// formatDiags renders diagnostics one per line as file:line:column: summary; detail.
func formatDiags(diags hcl.Diagnostics) string {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := ""
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		lines = append(lines, loc+msg)
	}
	return strings.Join(lines, "\n")
}

// applyEnv sets every setting one of whose variables is set, and reports
// every bad variable at once.
func applyEnv(cfg *Config, env map[string]string) error {
	var errs []error
	for _, s := range settings {
		errs = append(errs, s.v.readEnv(cfg, s, env))
	}
	return errors.Join(errs...)
}

func applyFlags(cfg *Config, f Overrides) error {
	if f.Listen != "" {
		i := strings.LastIndex(f.Listen, ":")
		if i < 0 {
			return fmt.Errorf("--listen %q: use host:port, for example 127.0.0.1:3000", f.Listen)
		}
		port, err := strconv.Atoi(f.Listen[i+1:])
		if err != nil || port < 0 || port > 65535 {
			return fmt.Errorf("--listen %q: the port must be a number from 0 to 65535", f.Listen)
		}
		host := strings.Trim(f.Listen[:i], "[]")
		if host == "" {
			host = "0.0.0.0"
		}
		cfg.Server.Host, cfg.Server.Port = host, port
	}
	if f.PluginDir != "" {
		cfg.Plugins.Dir = f.PluginDir
	}
	if f.DataDir != "" {
		cfg.DataDir = f.DataDir
	}
	if f.LogLevel != "" {
		cfg.LogLevel = f.LogLevel
	}
	if f.LogJSON != nil {
		cfg.LogJSON = *f.LogJSON
	}
	return nil
}
