package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// DefaultEnvFile is read when no environment file is named and it exists in
// the working directory: the .env the old Node.js system loaded with dotenv.
const DefaultEnvFile = ".env"

// ReadEnvFile parses a dotenv file: KEY=VALUE lines, optionally prefixed
// with "export ", blank lines and # comments. Values may be single quoted
// (taken literally), double quoted (with \n, \t, \", \\ escapes), or bare
// (trimmed, and a " #" starts a comment). The result is in os.Environ() form.
// Errors name the file and line.
func ReadEnvFile(path string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseEnvFile(path, src)
}

func parseEnvFile(path string, src []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, raw, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE, found %q", path, n, line)
		}
		if !validEnvName(key) {
			return nil, fmt.Errorf("%s:%d: %q is not a variable name (letters, digits and _; not starting with a digit)", path, n, key)
		}
		val, err := envValue(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", path, n, key, err)
		}
		out = append(out, key+"="+val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

func envValue(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	switch q := raw[0]; q {
	case '\'', '"':
		end := closingQuote(raw, q)
		if end < 0 {
			return "", fmt.Errorf("the value opens a %c quote that does not close on the same line", q)
		}
		if rest := strings.TrimSpace(raw[end+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
			return "", fmt.Errorf("unexpected %q after the quoted value", rest)
		}
		body := raw[1:end]
		if q == '\'' {
			return body, nil
		}
		return unescapeDouble(body), nil
	}
	if i := strings.Index(raw, " #"); i >= 0 {
		raw = raw[:i]
	}
	return strings.TrimSpace(raw), nil
}

// closingQuote is the index of the quote that closes raw[0], skipping
// backslash escapes inside double quotes.
func closingQuote(raw string, q byte) int {
	for i := 1; i < len(raw); i++ {
		switch {
		case q == '"' && raw[i] == '\\':
			i++
		case raw[i] == q:
			return i
		}
	}
	return -1
}

func unescapeDouble(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default: // \" \\ \$ and anything else: the character itself
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func validEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
