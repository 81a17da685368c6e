package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"

	"github.com/mikrobill/mikrobill/host/internal/redact"
)

// value is what the table needs of a setting's field; field[T] is the one
// implementation, for each type a setting can have.
type value interface {
	setDefault(c *Config)
	defaultValue() cty.Value
	// decode reads the setting from the file into c.
	decode(c *Config, s *Setting, expr hcl.Expression) hcl.Diagnostics
	// decodeTo reads the setting from the file into dst, a *T that is not
	// in a Config (a plugin block's override).
	decodeTo(dst any, s *Setting, expr hcl.Expression) hcl.Diagnostics
	readEnv(c *Config, s *Setting, env map[string]string) error
	validate(c *Config, s *Setting) error
	show(c *Config) cty.Value
	showAt(p any) cty.Value
	redacted(c *Config) cty.Value
}

// rule checks a setting's value; c is there for the rules that compare it
// with another setting.
type rule[T any] func(c *Config, s *Setting, v T) error

// lookup returns an environment variable's value, and whether it is set
// and not empty.
type lookup func(name string) (string, bool)

// field is a setting of type T: where it is in Config, its default, how the
// file and the environment give it, and its rules.
type field[T any] struct {
	at func(*Config) *T
	// def returns the default (a fresh one: slices are not shared).
	def func() T
	// fromFile reads a value of the file; key is the attribute's name, for
	// messages.
	fromFile func(expr hcl.Expression, key string) (T, hcl.Diagnostics)
	// fromEnv reads the setting's variables; ok is false when none is set.
	fromEnv func(s *Setting, def T, get lookup) (v T, ok bool, err error)
	rules   []rule[T]
	// source records where a secret came from (nil: not recorded).
	source func(*Config) *SecretSource
	// url marks a URL that may hold passwords: shown with redact.URL.
	url bool
}

var _ value = (*field[string])(nil)

func newField[T any](at func(*Config) *T, def T, fromFile func(hcl.Expression, string) (T, hcl.Diagnostics)) *field[T] {
	return &field[T]{at: at, def: func() T { return clone(def) }, fromFile: fromFile}
}

// clone copies slices so that no two configurations share one.
func clone[T any](v T) T {
	switch s := any(v).(type) {
	case []string:
		return any(slices.Clone(s)).(T)
	case []int:
		return any(slices.Clone(s)).(T)
	}
	return v
}

func text(at func(*Config) *string, def string) *field[string] {
	return newField(at, def, decodePlain[string]).env(asText)
}

// urlText is a URL that may hold passwords.
func urlText(at func(*Config) *string) *field[string] {
	f := text(at, "")
	f.url = true
	return f
}

// secretText is a secret whose source is recorded. An empty value in the
// file leaves it unset.
func secretText(at func(*Config) *string, source func(*Config) *SecretSource) *field[string] {
	f := text(at, "")
	f.source = source
	return f
}

func boolean(at func(*Config) *bool, def bool) *field[bool] {
	return newField(at, def, decodePlain[bool])
}

func integer[T int | int64](at func(*Config) *T, def T) *field[T] {
	return newField(at, def, decodePlain[T])
}

func fraction(at func(*Config) *float64, def float64) *field[float64] {
	return newField(at, def, decodePlain[float64]).check(func(_ *Config, s *Setting, v float64) error {
		if v < 0 || v > 1 {
			return fmt.Errorf("%s must be between 0 and 1, got %g", s.Key, v)
		}
		return nil
	})
}

func list(at func(*Config) *[]string, def []string) *field[[]string] {
	return newField(at, def, decodePlain[[]string])
}

func numbers(at func(*Config) *[]int, def []int) *field[[]int] {
	return newField(at, def, decodePlain[[]int])
}

// duration is a positive duration, written "30s" in the file.
func duration(at func(*Config) *time.Duration, def time.Duration) *field[time.Duration] {
	return newField(at, def, decodeDuration(false)).check(func(_ *Config, s *Setting, v time.Duration) error {
		if v <= 0 {
			return fmt.Errorf("%s must be positive, got %s", s.Key, v)
		}
		return nil
	})
}

// durationOrNone is a duration where "0s" means none.
func durationOrNone(at func(*Config) *time.Duration, def time.Duration) *field[time.Duration] {
	return newField(at, def, decodeDuration(true)).check(func(_ *Config, s *Setting, v time.Duration) error {
		if v < 0 {
			return fmt.Errorf("%s cannot be negative, got %s (use \"0s\" for none)", s.Key, v)
		}
		return nil
	})
}

// env has the setting read from the first of its variables that is set,
// with parse.
func (f *field[T]) env(parse func(v string, def T) (T, error)) *field[T] {
	f.fromEnv = func(s *Setting, def T, get lookup) (T, bool, error) {
		for _, name := range s.Env {
			if v, ok := get(name); ok {
				t, err := parse(v, def)
				if err != nil {
					return t, false, fmt.Errorf("%s=%q: %w", name, v, err)
				}
				return t, true, nil
			}
		}
		var zero T
		return zero, false, nil
	}
	return f
}

// envFrom has the setting read from its variables by read, for settings
// that several variables make up.
func (f *field[T]) envFrom(read func(get lookup) (T, bool, error)) *field[T] {
	f.fromEnv = func(_ *Setting, _ T, get lookup) (T, bool, error) { return read(get) }
	return f
}

func (f *field[T]) check(rules ...rule[T]) *field[T] {
	f.rules = append(f.rules, rules...)
	return f
}

// defaultFrom computes the default when a configuration is made.
func (f *field[T]) defaultFrom(def func() T) *field[T] {
	f.def = def
	return f
}

func (f *field[T]) setDefault(c *Config)     { *f.at(c) = f.def() }
func (f *field[T]) defaultValue() cty.Value  { return showValue(f.def()) }
func (f *field[T]) show(c *Config) cty.Value { return showValue(*f.at(c)) }
func (f *field[T]) showAt(p any) cty.Value   { return showValue(*p.(*T)) }

func (f *field[T]) decode(c *Config, s *Setting, expr hcl.Expression) hcl.Diagnostics {
	v, set, diags := f.read(s, expr)
	if !set {
		return diags
	}
	if f.source != nil {
		if str, _ := any(v).(string); str == "" {
			return nil
		}
		*f.source(c) = SourceFile
	}
	*f.at(c) = v
	return nil
}

func (f *field[T]) decodeTo(dst any, s *Setting, expr hcl.Expression) hcl.Diagnostics {
	v, set, diags := f.read(s, expr)
	if set {
		*dst.(*T) = v
	}
	return diags
}

// read reads a value of the file; a null value is no value.
func (f *field[T]) read(s *Setting, expr hcl.Expression) (T, bool, hcl.Diagnostics) {
	var zero T
	v, diags := expr.Value(nil)
	if diags.HasErrors() || v.IsNull() {
		return zero, false, diags
	}
	t, diags := f.fromFile(expr, s.leaf())
	if diags.HasErrors() {
		return zero, false, diags
	}
	return t, true, nil
}

func (f *field[T]) readEnv(c *Config, s *Setting, env map[string]string) error {
	if f.fromEnv == nil || len(s.Env) == 0 {
		return nil
	}
	get := func(name string) (string, bool) {
		if !slices.Contains(s.Env, name) {
			panic(fmt.Sprintf("config: %s reads %s, which its declaration does not list", s.Key, name))
		}
		v := env[name]
		return v, v != ""
	}
	v, ok, err := f.fromEnv(s, f.def(), get)
	if err != nil || !ok {
		return err
	}
	*f.at(c) = v
	if f.source != nil {
		*f.source(c) = SourceEnv
	}
	return nil
}

func (f *field[T]) validate(c *Config, s *Setting) error {
	var errs []error
	for _, r := range f.rules {
		errs = append(errs, r(c, s, *f.at(c)))
	}
	return errors.Join(errs...)
}

func (f *field[T]) redacted(c *Config) cty.Value {
	v, _ := any(*f.at(c)).(string)
	switch {
	case f.url:
		return cty.StringVal(redact.URL(v))
	case v == "":
		return cty.NullVal(cty.String)
	}
	src := SourceNone
	if f.source != nil {
		src = *f.source(c)
	}
	return cty.StringVal(src.Redacted())
}

// isZero reports whether *p is its type's zero value.
func isZero(p any) bool { return reflect.ValueOf(p).Elem().IsZero() }

// decodePlain reads a value of the file as gohcl does, with its messages
// ("a number is required").
func decodePlain[T any](expr hcl.Expression, _ string) (T, hcl.Diagnostics) {
	var v T
	diags := gohcl.DecodeExpression(expr, nil, &v)
	return v, diags
}

// decodeDuration reads a duration written in Go's syntax, "30s" or
// "1h30m", positive (or, with zero, also "0s"). A bare number is an error.
func decodeDuration(zero bool) func(hcl.Expression, string) (time.Duration, hcl.Diagnostics) {
	return func(expr hcl.Expression, key string) (time.Duration, hcl.Diagnostics) {
		detail := fmt.Sprintf("%s must be a duration string such as \"30s\", \"2m\" or \"1h30m\"", key)
		if zero {
			detail += ", or \"0s\" for none"
		}
		bad := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid duration", Detail: detail, Subject: expr.Range().Ptr()}}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			return 0, diags
		}
		if v.Type() != cty.String {
			return 0, bad
		}
		d, err := time.ParseDuration(v.AsString())
		if err != nil || d < 0 || (d == 0 && !zero) {
			return 0, bad
		}
		return d, nil
	}
}

// showValue is a setting's value as the file writes it; durations as
// FormatDuration writes them, lists never null.
func showValue(v any) cty.Value {
	switch t := v.(type) {
	case string:
		return cty.StringVal(t)
	case bool:
		return cty.BoolVal(t)
	case int:
		return cty.NumberIntVal(int64(t))
	case int64:
		return cty.NumberIntVal(t)
	case float64:
		return cty.NumberFloatVal(t)
	case time.Duration:
		return cty.StringVal(FormatDuration(t))
	case []string:
		if len(t) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		vals := make([]cty.Value, len(t))
		for i, s := range t {
			vals[i] = cty.StringVal(s)
		}
		return cty.ListVal(vals)
	case []int:
		if len(t) == 0 {
			return cty.ListValEmpty(cty.Number)
		}
		vals := make([]cty.Value, len(t))
		for i, n := range t {
			vals[i] = cty.NumberIntVal(int64(n))
		}
		return cty.ListVal(vals)
	}
	panic(fmt.Sprintf("config: no way to show a %T", v))
}

// FormatDuration writes a duration as the file would: "1m", not "1m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
