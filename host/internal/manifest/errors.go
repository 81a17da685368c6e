package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// fieldPath is the path of key in the object at parent ("" for the top
// level), as Problem.Field writes it.
func fieldPath(parent, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return parent + "[" + strconv.Quote(key) + "]"
	case parent == "":
		return key
	default:
		return parent + "." + key
	}
}

// Problem is one mistake in a manifest.
type Problem struct {
	// File is the manifest's path ([Manifest.File]); empty for a Manifest
	// built in code.
	File string
	// Field is the path of the offending field, in JSON names with dots
	// and indexes: "version", "dependencies[1].version", "routes[0].auth",
	// "executables.linux-amd64". A key that is not a plain name (empty,
	// or holding anything but letters, digits, '-' and '_') is quoted in
	// brackets, so that a path names one field: `executables["linux.amd64"]`,
	// `[""]`. Empty when the problem is the whole file (for example invalid
	// JSON).
	Field string
	// Message says what is wrong and, where it helps, what to write
	// instead. It is lowercase and does not repeat the file or field.
	Message string
}

// String formats the problem as "<file>: <field>: <message>", leaving out an
// empty file or field.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError is every problem found in one manifest. [Parse], [Load]
// and [Manifest.Validate] return it when the manifest's content is wrong;
// errors.As it to list the problems one by one (the admin UI and
// "mikrobill plugin validate" do).
type ValidationError struct {
	// File is the manifest's path, as in each Problem.
	File string
	// Problems are in the order of the manifest's fields; never empty.
	Problems []Problem
}

// Error prints one line per problem: "<file>: <field>: <message>".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// asError returns nil for no problems, or a *ValidationError. Returning a
// typed nil pointer as error is the bug this avoids.
// At most maxProblems are kept, the last of them counting the rest, so a
// manifest with thousands of mistakes still makes a readable report.
func asError(file string, problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	if len(problems) > maxProblems {
		more := len(problems) - (maxProblems - 1)
		problems = append(problems[:maxProblems-1:maxProblems-1], Problem{File: file,
			Message: fmt.Sprintf("%d more problems are not shown; fix the ones above first", more)})
	}
	return &ValidationError{File: file, Problems: problems}
}
