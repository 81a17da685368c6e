package ui

import (
	"regexp"
	"strings"
	"testing"
)

// TestStylesheetHasEachSelectorOnce: app.css states the rules of a selector
// in one place (outside @media blocks, which adjust them), so a change to
// how, say, a button looks is made once and not undone further down. A
// class qualified by its element (a.button) counts as the class.
func TestStylesheetHasEachSelectorOnce(t *testing.T) {
	raw, err := staticFS.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(raw), "")
	seen := map[string]int{}
	depth := 0
	var sel strings.Builder
	for _, c := range css {
		switch c {
		case '{':
			s := strings.TrimSpace(sel.String())
			sel.Reset()
			if strings.HasPrefix(s, "@") {
				depth++ // the rules inside are adjustments
				continue
			}
			if depth == 0 {
				seen[selectorKey(s)]++
			}
			depth++
		case '}':
			depth--
			sel.Reset()
		default:
			sel.WriteRune(c)
		}
	}
	if len(seen) < 50 {
		t.Fatalf("read %d selectors from app.css; the reader is broken", len(seen))
	}
	for s, n := range seen {
		if n > 1 {
			t.Errorf("app.css has rules for %q in %d places; write them once", s, n)
		}
	}
}

// tagBeforeClass is an element name qualifying a class: the "a" of a.button.
var tagBeforeClass = regexp.MustCompile(`(^|[\s>+~])[a-z][a-z0-9]*\.`)

// selectorKey is a rule's selector list, normalized: spaces folded, each
// class without the element qualifying it.
func selectorKey(list string) string {
	var out []string
	for _, one := range strings.Split(list, ",") {
		one = strings.Join(strings.Fields(one), " ")
		out = append(out, tagBeforeClass.ReplaceAllString(one, "$1."))
	}
	return strings.Join(out, ",")
}
