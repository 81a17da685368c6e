package cli

import (
	"bytes"
	"go/parser"
	"go/token"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestHelpListsEveryCommand: `mikrobill --help` lists every command with
// what it does, and the package doc names every one.
func TestHelpListsEveryCommand(t *testing.T) {
	var stdout bytes.Buffer
	if code := Execute([]string{"--help"}, &stdout, io.Discard, nil); code != 0 {
		t.Fatalf("--help: exit code %d", code)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "root.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	cmds := newRoot(&globals{}).Commands()
	if len(cmds) < 7 {
		t.Fatalf("only %d commands registered", len(cmds))
	}
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.Name()) + ` +` + regexp.QuoteMeta(c.Short) + `$`)
		if !line.MatchString(stdout.String()) {
			t.Errorf("--help does not list %q with %q:\n%s", c.Name(), c.Short, stdout.String())
		}
		if !regexp.MustCompile(`\b` + c.Name() + `\b`).MatchString(doc) {
			t.Errorf("the package doc does not name the %q command:\n%s", c.Name(), doc)
		}
	}
}

// TestREADMELayoutMatchesTheTree: every directory the README's layout
// names is where it says.
func TestREADMELayoutMatchesTheTree(t *testing.T) {
	const root = "../../.."
	readme, err := os.ReadFile(root + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(readme), "## Layout\n\n```\n")
	if !ok {
		t.Fatal("README.md has no layout block under \"## Layout\"")
	}
	layout, _, _ = strings.Cut(layout, "```")
	entry := regexp.MustCompile(`^( *)((?:[a-z][a-z0-9_<>-]*/ ?)+)`)
	var parents []string // parents[i]: the directory at indent level i
	checked := 0
	for _, line := range strings.Split(layout, "\n") {
		m := entry.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		level := len(m[1]) / 2
		if level > len(parents) {
			t.Fatalf("layout line %q is indented under nothing", line)
		}
		parents = parents[:level]
		dirs := strings.Fields(m[2])
		for _, d := range dirs {
			path := strings.Join(append(append([]string{}, parents...), d), "")
			if strings.Contains(path, "<") {
				continue // plugins/<name>/
			}
			if fi, err := os.Stat(root + "/" + path); err != nil || !fi.IsDir() {
				t.Errorf("the README's layout names %s, which is not a directory of the tree", path)
			}
			checked++
		}
		if len(dirs) == 1 {
			parents = append(parents, dirs[0])
		}
	}
	if checked < 8 {
		t.Fatalf("only %d directories checked: the layout block was not read", checked)
	}
}
