package ui

import (
	"io/fs"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"unicode"

	"golang.org/x/net/html"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
)

// TestCatalogsAgree: every key is in every language, with the same verbs.
func TestCatalogsAgree(t *testing.T) {
	for key, en := range catalogs["en"] {
		for lang, cat := range catalogs {
			msg, ok := cat[key]
			if !ok {
				t.Errorf("%s has no %q", lang, key)
				continue
			}
			if verbs(msg) != verbs(en) {
				t.Errorf("%s %q has verbs %q; en has %q", lang, key, verbs(msg), verbs(en))
			}
		}
	}
	for lang, cat := range catalogs {
		for key := range cat {
			if _, ok := catalogs["en"][key]; !ok {
				t.Errorf("%s has %q, which en lacks", lang, key)
			}
		}
	}
	// The keys pages build from plugin states, health and circuits.
	var built []string
	for _, s := range []plugins.State{plugins.StateStarting, plugins.StateRunning, plugins.StateUnhealthy, plugins.StateRestarting, plugins.StateFailed, plugins.StateStopped, plugins.StateDisabled} {
		built = append(built, "state."+string(s))
	}
	built = append(built, "state.not_configured") // layout.html's "state"
	for _, h := range []sdk.HealthStatus{sdk.HealthOK, sdk.HealthDegraded, sdk.HealthError, "unknown"} {
		built = append(built, "health."+string(h))
	}
	built = append(built, "circuit.closed", "circuit.open", "circuit.half-open", "role."+sdk.RoleViewer, "role."+sdk.RoleOperator, "role."+sdk.RoleAdmin)
	for _, key := range built {
		if _, ok := catalogs["en"][key]; !ok {
			t.Errorf("no message %q", key)
		}
	}
}

func verbs(msg string) string {
	var out []string
	for i := 0; i < len(msg)-1; i++ {
		if msg[i] == '%' {
			out = append(out, msg[i:i+2])
			i++
		}
	}
	return strings.Join(out, " ")
}

// TestTemplatesHaveNoText: outside {{t ...}} calls, the templates' text
// (between tags, and in attributes people read) has no letters, and every
// literal key given to t is in the catalog.
func TestTemplatesHaveNoText(t *testing.T) {
	u := newTestUI(t)
	for _, name := range pageFiles {
		page, err := u.page("en", name)
		if err != nil {
			t.Fatal(err)
		}
		for _, tmpl := range page.Templates() {
			if tmpl.Tree == nil {
				continue
			}
			var src strings.Builder
			flatten(t, tmpl.Tree.Root, &src)
			for _, text := range visibleText(src.String()) {
				if strings.IndexFunc(text, unicode.IsLetter) >= 0 {
					t.Errorf("%s, template %q: text outside {{t}}: %q", name, tmpl.Name(), strings.TrimSpace(text))
				}
			}
		}
	}
}

// action stands in for a template action in the flattened text.
const action = "\x00"

// flatten writes a template's text with every action replaced by action,
// and checks the literal keys of its t calls.
func flatten(t *testing.T, n parse.Node, w *strings.Builder) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			flatten(t, c, w)
		}
	case *parse.TextNode:
		w.Write(n.Text)
	case *parse.IfNode:
		w.WriteString(action)
		flatten(t, n.List, w)
		flatten(t, n.ElseList, w)
	case *parse.RangeNode:
		w.WriteString(action)
		flatten(t, n.List, w)
		flatten(t, n.ElseList, w)
	case *parse.WithNode:
		w.WriteString(action)
		flatten(t, n.List, w)
		flatten(t, n.ElseList, w)
	case *parse.ActionNode:
		checkKeys(t, n.Pipe)
		w.WriteString(action)
	default:
		w.WriteString(action)
	}
}

// checkKeys checks that the string literals t is called with are keys.
func checkKeys(t *testing.T, p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		if len(cmd.Args) > 1 {
			if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && id.Ident == "t" {
				if s, ok := cmd.Args[1].(*parse.StringNode); ok {
					if _, ok := catalogs["en"][s.Text]; !ok {
						t.Errorf("{{t %q}}: no such key in the catalog", s.Text)
					}
				}
			}
		}
		for _, a := range cmd.Args {
			if pn, ok := a.(*parse.PipeNode); ok {
				checkKeys(t, pn)
			}
		}
	}
}

// readAttrs are the attributes whose values people read.
var readAttrs = []string{"title", "alt", "placeholder", "aria-label"}

// visibleText returns the text between tags and in readAttrs of an HTML
// document. The code of <pre> (a command to type) is not prose.
func visibleText(doc string) []string {
	var out []string
	z := html.NewTokenizer(strings.NewReader(doc))
	inCode := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.TextToken:
			if inCode == 0 {
				out = append(out, string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.Data == "pre" {
				inCode++
			}
			for _, a := range tok.Attr {
				if slices.Contains(readAttrs, a.Key) {
					out = append(out, a.Val)
				}
			}
		case html.EndTagToken:
			if tok := z.Token(); tok.Data == "pre" {
				inCode--
			}
		}
	}
}

// TestTemplatesFindText: the check above finds text left in a template.
func TestTemplatesFindText(t *testing.T) {
	var found []string
	for _, text := range visibleText(`<p>` + action + `</p><p title="Hello">` + action + ` Restart</p><pre>mikrobill user create</pre>`) {
		if strings.IndexFunc(text, unicode.IsLetter) >= 0 {
			found = append(found, strings.TrimSpace(text))
		}
	}
	if !slices.Equal(found, []string{"Hello", action + " Restart"}) {
		t.Errorf("found %q", found)
	}
}

func TestLanguageOf(t *testing.T) {
	for _, c := range []struct{ accept, cookie, want string }{
		{"", "", "en"},
		{"id-ID,id;q=0.9,en;q=0.8", "", "id"},
		{"en-US,en;q=0.9", "", "en"},
		{"fr-FR", "", "en"},
		{"en-US", "id", "id"},
		{"id", "en", "en"},
		{"id", "xx", "id"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", c.accept)
		if c.cookie != "" {
			r.Header.Set("Cookie", LanguageCookie+"="+c.cookie)
		}
		if got := languageOf(r); got != c.want {
			t.Errorf("Accept-Language %q, cookie %q: %s; want %s", c.accept, c.cookie, got, c.want)
		}
	}
}

// TestEveryPageParses parses every page file in every language, as New
// did before the pages were parsed on first use: a template that does not
// parse fails here, not on an operator's first visit. It also checks that
// a page is parsed once a language and that unknown pages and languages
// are errors, not panics.
func TestEveryPageParses(t *testing.T) {
	u := newTestUI(t)
	if len(u.pages) != 0 {
		t.Errorf("New parsed %d pages; they are parsed on first use", len(u.pages))
	}
	for lang := range catalogs {
		for _, name := range pageFiles {
			if _, err := u.page(lang, name); err != nil {
				t.Errorf("language %s: %v", lang, err)
			}
		}
	}
	if want := len(catalogs) * len(pageFiles); len(u.pages) != want {
		t.Errorf("%d pages parsed, want %d (%d languages, %d page files)", len(u.pages), want, len(catalogs), len(pageFiles))
	}
	a, _ := u.page("en", "dashboard.html")
	if b, _ := u.page("en", "dashboard.html"); a != b {
		t.Error("a page was parsed twice in one language")
	}
	if _, err := u.page("en", "nonexistent.html"); err == nil || !strings.Contains(err.Error(), "nonexistent.html") {
		t.Errorf("an unknown page: %v", err)
	}
	if _, err := u.page("xx", "dashboard.html"); err == nil || !strings.Contains(err.Error(), `"xx"`) {
		t.Errorf("an unknown language: %v", err)
	}
}

func newTestUI(t *testing.T) *UI {
	t.Helper()
	u, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestStaticFilesEmbedded: every static file has a link.
func TestStaticFilesEmbedded(t *testing.T) {
	u := newTestUI(t)
	files, _ := fs.Glob(staticFS, "static/vendor/*.js")
	if len(files) == 0 {
		t.Fatal("no vendored scripts embedded")
	}
	if _, err := u.staticURL("app.css"); err != nil {
		t.Error(err)
	}
	if _, err := u.staticURL("nope.css"); err == nil {
		t.Error("a missing static file has a link")
	}
}

// TestUserPasswordMessageNamesTheRule: the users page's refusal of a weak
// password names the length the host really asks for, in every language.
func TestUserPasswordMessageNamesTheRule(t *testing.T) {
	for lang, msgs := range catalogs {
		if msg := msgs["users.err.password"]; !strings.Contains(msg, strconv.Itoa(auth.MinPasswordLen)) {
			t.Errorf("%s users.err.password = %q; it must name auth.MinPasswordLen (%d)", lang, msg, auth.MinPasswordLen)
		}
	}
}
