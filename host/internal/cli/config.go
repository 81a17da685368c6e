package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/mikrobill/mikrobill/host/internal/config"
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
in the database and cache URLs as "xxxxx"; and plugin settings whose names
look secret (containing pass, secret, token, key, credential or private) as
"<redacted, from file>". Secrets not set yet are shown as null.

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

func str(s string) cty.Value { return cty.StringVal(s) }

func num[T int | int64](n T) cty.Value { return cty.NumberIntVal(int64(n)) }

func dur(d time.Duration) cty.Value { return cty.StringVal(fmtDuration(d)) }

func strs(list []string) cty.Value {
	if len(list) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(list))
	for i, s := range list {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

func ints(list []int) cty.Value {
	if len(list) == 0 {
		return cty.ListValEmpty(cty.Number)
	}
	vals := make([]cty.Value, len(list))
	for i, n := range list {
		vals[i] = num(n)
	}
	return cty.ListVal(vals)
}

// fmtDuration writes a duration as the file would: "1m", not "1m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// redacted is how a secret that is set is shown.
func redacted(src config.SecretSource) string {
	if src == config.SourceNone {
		src = config.SourceFile
	}
	return fmt.Sprintf("<redacted, from %s>", src)
}

// secretNode shows a secret redacted, or null when it is not set.
func secretNode(key, val string, src config.SecretSource) node {
	if val != "" {
		return attr(key, str(redacted(src)))
	}
	return attr(key, cty.NullVal(cty.String))
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

// redactURL hides the password of a URL, in its user information and in
// a password query parameter.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<redacted: not a valid URL>"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretKey(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// secretWords mark a plugin setting (or URL parameter) as secret.
var secretWords = []string{"pass", "secret", "token", "key", "credential", "private"}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redactSettings replaces the values of secret-looking keys, at any depth.
func redactSettings(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			if secretKey(k) && val != nil && val != "" {
				out[k] = redacted(config.SourceFile)
				continue
			}
			out[k] = redactSettings(val)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactSettings(e)
		}
		return out
	default:
		return v
	}
}

// settingsValue is a plugin's settings, redacted, as a cty value.
func settingsValue(raw json.RawMessage) (cty.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep large numbers exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return cty.NilVal, err
	}
	red, err := json.Marshal(redactSettings(v))
	if err != nil {
		return cty.NilVal, err
	}
	t, err := ctyjson.ImpliedType(red)
	if err != nil {
		return cty.NilVal, err
	}
	return ctyjson.Unmarshal(red, t)
}

func restartNodes(r config.RestartConfig) []node {
	return []node{
		attr("initial_backoff", dur(r.InitialBackoff)),
		attr("max_backoff", dur(r.MaxBackoff)),
		attr("jitter", cty.NumberFloatVal(r.Jitter)),
		attr("budget", num(r.Budget)),
		attr("window", dur(r.Window)),
		attr("cooldown", dur(r.Cooldown)),
		attr("stable_after", dur(r.StableAfter)),
	}
}

// configTree is the effective configuration, secrets redacted, in the shape
// of mikrobill.hcl.
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
	envNode := attr("environment", str(cfg.Environment))
	if cfg.EnvFile != "" {
		file += ", environment file " + cfg.EnvFile
	}
	envNode.comment = "Effective configuration (" + file + "); secrets are redacted."
	top = append(top, envNode,
		attr("data_dir", str(cfg.DataDir)),
		attr("log_level", str(cfg.LogLevel)),
		attr("log_json", cty.BoolVal(cfg.LogJSON)),
	)
	if len(debug) > 0 {
		top = append(top, node{comment: "DEBUG turns these plugins' logs to debug: " + strings.Join(debug, ", ")})
	}

	s := cfg.Server
	top = append(top, node{key: "server", block: []node{
		attr("host", str(s.Host)),
		attr("port", num(s.Port)),
		attr("request_timeout", dur(s.RequestTimeout)),
		attr("keep_alive_timeout", dur(s.KeepAliveTimeout)),
		attr("body_limit", num(s.BodyLimit)),
		attr("shutdown_timeout", dur(s.ShutdownTimeout)),
	}})

	p := cfg.Plugins
	top = append(top, node{key: "plugins", block: []node{
		attr("dir", str(p.Dir)),
		attr("start_timeout", dur(p.StartTimeout)),
		attr("health_interval", dur(p.HealthInterval)),
		attr("health_timeout", dur(p.HealthTimeout)),
		attr("metrics_timeout", dur(p.MetricsTimeout)),
		attr("stop_timeout", dur(p.StopTimeout)),
		attr("health_failures", num(p.HealthFailures)),
		attr("call_wait", dur(p.CallWait)),
		{key: "restart", block: restartNodes(p.Restart)},
	}})

	db := cfg.Database
	dbURL := attr("url", str(redactURL(db.URL)))
	if db.URL == "" {
		dbURL.comment = "empty: the embedded SQLite database, " + filepath.Join(cfg.DataDir, store.FileName)
	}
	top = append(top, node{key: "database", block: []node{
		dbURL,
		attr("max_conns", num(db.MaxConns)),
		attr("min_conns", num(db.MinConns)),
		attr("conn_max_lifetime", dur(db.ConnMaxLifetime)),
		attr("statement_timeout", dur(db.StatementTimeout)),
	}})

	cacheURL := attr("url", str(redactURL(cfg.Cache.URL)))
	if cfg.Cache.URL == "" {
		cacheURL.comment = "empty: the in-memory cache"
	}
	top = append(top, node{key: "cache", block: []node{
		cacheURL,
		attr("max_entries", num(cfg.Cache.MaxEntries)),
		attr("key_prefix", str(cfg.Cache.KeyPrefix)),
	}})

	sec := cfg.Security
	top = append(top, node{key: "security", block: append(missingSecretsNote(cfg),
		secretNode("jwt_secret", sec.JWTSecret, cfg.Sources.JWTSecret),
		secretNode("cookie_secret", sec.CookieSecret, cfg.Sources.CookieSecret),
		secretNode("encryption_key", sec.EncryptionKey, cfg.Sources.EncryptionKey),
		attr("session_ttl", dur(sec.SessionTTL)),
		attr("jwt_ttl", dur(sec.JWTTTL)),
		attr("cors_origins", strs(sec.CORSOrigins)),
		attr("rate_limit_max", num(sec.RateLimitMax)),
		attr("rate_limit_window", dur(sec.RateLimitWindow)),
		attr("trusted_proxies", strs(sec.TrustedProxies)),
	)})

	j := cfg.Jobs
	top = append(top, node{key: "jobs", block: []node{
		attr("workers", num(j.Workers)),
		attr("poll_interval", dur(j.PollInterval)),
		attr("expiry_check_interval", dur(j.ExpiryCheckInterval)),
		attr("reminder_days", ints(j.ReminderDays)),
		attr("retention", dur(j.Retention)),
	}})

	n := cfg.Notifications
	top = append(top, node{key: "notifications", block: []node{
		attr("plugin", str(n.Plugin)),
		attr("session", str(n.Session)),
		attr("message_delay", dur(n.MessageDelay)),
		attr("max_sessions", num(n.MaxSessions)),
	}})

	loc, ok := cfg.DefaultRouter()
	router := node{key: "router", block: []node{}}
	if ok {
		password := attr("password", str(""))
		if loc.Password != "" {
			password = attr("password", str(redacted(cfg.Sources.RouterPassword)))
		}
		router.block = append(router.block, node{key: "default_location", block: []node{
			attr("name", str(loc.Name)),
			attr("host", str(loc.Host)),
			attr("port", num(loc.Port)),
			attr("username", str(loc.Username)),
			password,
			attr("tls", cty.BoolVal(loc.TLS)),
		}})
	} else {
		router.comment = "no default router location (router.default_location or MIKROTIK_HOST)"
	}
	top = append(top, router)

	names := make([]string, 0, len(cfg.Plugin))
	for name := range cfg.Plugin {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pc := cfg.Plugin[name]
		var body []node
		if pc.Required != nil {
			body = append(body, attr("required", cty.BoolVal(*pc.Required)))
		}
		body = append(body, attr("disabled", cty.BoolVal(pc.Disabled)))
		if len(pc.Environment) > 0 {
			body = append(body, attr("environment", strs(pc.Environment)))
		}
		for _, d := range []struct {
			key string
			d   time.Duration
		}{{"start_timeout", pc.StartTimeout}, {"stop_timeout", pc.StopTimeout}, {"call_wait", pc.CallWait}} {
			if d.d > 0 {
				body = append(body, attr(d.key, dur(d.d)))
			}
		}
		if pc.HealthFailures > 0 {
			body = append(body, attr("health_failures", num(pc.HealthFailures)))
		}
		// Only the restart keys this plugin overrides (zero: not overridden).
		var restart []node
		r := pc.Restart
		for _, d := range []struct {
			key string
			d   time.Duration
		}{{"initial_backoff", r.InitialBackoff}, {"max_backoff", r.MaxBackoff}, {"window", r.Window}, {"cooldown", r.Cooldown}, {"stable_after", r.StableAfter}} {
			if d.d > 0 {
				restart = append(restart, attr(d.key, dur(d.d)))
			}
		}
		if r.Jitter > 0 {
			restart = append(restart, attr("jitter", cty.NumberFloatVal(r.Jitter)))
		}
		if r.Budget > 0 {
			restart = append(restart, attr("budget", num(r.Budget)))
		}
		if len(restart) > 0 {
			body = append(body, node{key: "restart", block: restart})
		}
		settings, err := settingsValue(cfg.PluginSettings(name))
		if err != nil {
			return nil, fmt.Errorf("plugin %q settings: %w", name, err)
		}
		body = append(body, attr("config", settings))
		top = append(top, node{key: "plugin", label: name, block: body})
	}
	if len(names) == 0 {
		top = append(top, node{key: "plugin", jsonOnly: true, raw: map[string]any{}})
	}
	return top, nil
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
