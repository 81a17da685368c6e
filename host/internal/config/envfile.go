package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// keyLine matches the start of a KEY=VALUE line: the key, and the quote
// its value opens with, if any.
var keyLine = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(['"]?)`)

// dollarRef is a $NAME or ${NAME} that godotenv would expand.
var dollarRef = regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// checkExpansions refuses a bare or double-quoted value with a $NAME or
// ${NAME} that names no variable set on an earlier line of the file:
// godotenv would put nothing in its place, so a password such as
// Pa$SW0RD, which the old system's dotenv kept as written, would quietly
// become "Pa". Single-quoted values and \$ are literal, and are not
// looked at.
func checkExpansions(path string, src []byte) error {
	defined := map[string]bool{}
	for i, line := range lines(src) {
		m := keyLine.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		key, quote := line[m[2]:m[3]], line[m[4]:m[5]]
		if quote != "'" {
			value := line[m[1]:]
			for j := 0; j < len(value); j++ {
				switch {
				case value[j] == '\\':
					j++ // an escaped character, \$ among them
				case quote == "" && value[j] == '#' && (j == 0 || value[j-1] == ' ' || value[j-1] == '\t'):
					j = len(value) // a comment
				case value[j] == '$':
					r := dollarRef.FindStringSubmatch(value[j:])
					if r == nil {
						continue
					}
					if !defined[r[1]+r[2]] {
						return fmt.Errorf("%s:%d: %s: the value has a $ followed by a name (at character %d of the value) that is no variable set earlier in the file, so godotenv would put nothing there; write the value in single quotes ('...') or that dollar as \\$ to keep it as written",
							path, i+1, key, j+1)
					}
				}
			}
		}
		defined[key] = true
	}
	return nil
}

// DefaultEnvFile is read when no environment file is named and it exists in
// the working directory: the .env the old Node.js system loaded with dotenv.
const DefaultEnvFile = ".env"

// ReadEnvFile parses a dotenv file with github.com/joho/godotenv: KEY=VALUE
// lines, optionally prefixed with "export ", blank lines and # comments.
// Values may be single quoted (taken literally), double quoted (\n and \r
// escapes, ${NAME} expansion, may span lines), or bare (trimmed, a " #"
// starts a comment, ${NAME} expansion). The result is in os.Environ() form,
// sorted by name. Errors name the file and line, never a value.
func ReadEnvFile(path string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseEnvFile(path, src)
}

func parseEnvFile(path string, src []byte) ([]string, error) {
	src = bytes.TrimPrefix(src, []byte("\ufeff"))
	vars, err := godotenv.UnmarshalBytes(src)
	if err != nil {
		return nil, envFileError(path, src, err)
	}
	if err := checkExpansions(path, src); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		if !validEnvName(k) {
			n := envFileLine(src, func(prefix map[string]string, _ error) bool { _, ok := prefix[k]; return ok })
			if k == "" {
				return nil, fmt.Errorf("%s:%d: expected KEY=VALUE, found %q", path, n, lineText(src, n))
			}
			return nil, fmt.Errorf("%s:%d: %q is not a variable name (letters, digits and _; not starting with a digit)", path, n, k)
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out, nil
}

// envFileError names the line godotenv stopped at. godotenv's own message
// quotes the rest of the file (secrets included), so only its first words
// are kept.
func envFileError(path string, src []byte, err error) error {
	// The failing line is the one after the longest prefix that parses:
	// every longer prefix fails from there on (a good value that spans lines
	// fails only while it is cut).
	n := 1
	for k := len(lines(src)); k >= 1; k-- {
		if _, perr := godotenv.UnmarshalBytes(joinLines(src, k-1)); perr == nil {
			n = k
			break
		}
	}
	line := lineText(src, n)
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "unterminated quoted value"):
		key, _, _ := strings.Cut(line, "=")
		return fmt.Errorf("%s:%d: %s: the value opens a quote that does not close", path, n, strings.TrimSpace(strings.TrimPrefix(key, "export ")))
	case !strings.Contains(line, "="):
		return fmt.Errorf("%s:%d: expected KEY=VALUE, found %q", path, n, line)
	default:
		key, _, _ := strings.Cut(line, "=")
		reason, _, _ := strings.Cut(msg, " near ")
		if strings.Contains(reason, `"\n"`) {
			// The text after a closing quote was read as the next key.
			reason = "unexpected text after the quoted value (put the quotes around all of it)"
		}
		return fmt.Errorf("%s:%d: %s: %s", path, n, strings.TrimSpace(strings.TrimPrefix(key, "export ")), reason)
	}
}

// envFileLine is the first line n (1-based) at which the file's first n
// lines satisfy cond.
func envFileLine(src []byte, cond func(map[string]string, error) bool) int {
	all := lines(src)
	for k := 1; k <= len(all); k++ {
		if cond(godotenv.UnmarshalBytes(joinLines(src, k))) {
			return k
		}
	}
	return len(all)
}

func lines(src []byte) []string { return strings.Split(string(src), "\n") }

func joinLines(src []byte, n int) []byte {
	return []byte(strings.Join(lines(src)[:n], "\n") + "\n")
}

func lineText(src []byte, n int) string {
	all := lines(src)
	if n < 1 || n > len(all) {
		return ""
	}
	return strings.TrimSpace(all[n-1])
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
