package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestHotspotLoginPage: login-page writes login.html, its css and js and
// the logo into the folder; the page parses as HTML, posts both forms to
// $(link-login-only) with dst and popup, shows $(error) and $(username),
// carries the operator's name (escaped, "$" included) and the portal link
// of the location; a second run refuses to overwrite without --force; bad
// input is refused saying what to do.
func TestHotspotLoginPage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mikrobill.hcl")
	if err := os.WriteFile(cfg, []byte("operator {\n  name = \"Net <Kampung> $(x)\"\n}\nserver {\n  public_url = \"https://billing.example.net\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logo := filepath.Join(dir, "brand.png")
	if err := os.WriteFile(logo, []byte("\x89PNG fake"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "site")
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Execute(append([]string{"--config", cfg, "hotspot", "login-page"}, args...), &stdout, &stderr, []string{"MIKROBILL_DATA_DIR=" + dir})
		return code, stdout.String(), stderr.String()
	}
	code, stdout, stderr := run("--location", "main", "--out", out, "--logo", logo)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	for _, f := range []string{"login.html", "login.css", "login.js", "logo.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil || !strings.Contains(stdout, f) {
			t.Errorf("%s: %v; output %q", f, err, stdout)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "login.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	doc, err := html.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]map[string]string{} // form id -> action and its inputs' names -> values
	var walk func(n *html.Node, form map[string]string)
	walk = func(n *html.Node, form map[string]string) {
		if n.Type == html.ElementNode {
			a := map[string]string{}
			for _, at := range n.Attr {
				a[at.Key] = at.Val
			}
			switch n.Data {
			case "form":
				form = map[string]string{"action": a["action"], "method": a["method"]}
				forms[a["id"]] = form
			case "input":
				if form != nil {
					form[a["name"]] = a["value"]
				}
			case "a":
				if a["id"] == "buy" {
					forms["buy"] = map[string]string{"href": a["href"]}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	for _, id := range []string{"voucher", "member"} {
		f := forms[id]
		if f == nil || f["action"] != "$(link-login-only)" || f["method"] != "post" || f["dst"] != "$(link-orig)" || f["popup"] != "true" {
			t.Errorf("form %s: %v; want a post to $(link-login-only) with dst and popup", id, f)
		}
		if _, ok := f["username"]; !ok {
			t.Errorf("form %s has no username", id)
		}
		if _, ok := f["password"]; !ok {
			t.Errorf("form %s has no password", id)
		}
	}
	if forms["member"]["username"] != "$(username)" {
		t.Errorf("member form's username %q, want $(username)", forms["member"]["username"])
	}
	if got := forms["buy"]["href"]; got != "https://billing.example.net/portal?location=main" {
		t.Errorf("buy online link %q", got)
	}
	for _, want := range []string{"$(if error)", "$(error)", "$(endif)", "Net &lt;Kampung&gt; &#36;(x)", `src="logo.png"`, `href="login.css"`, `src="login.js"`} {
		if !strings.Contains(page, want) {
			t.Errorf("login.html lacks %q", want)
		}
	}
	if strings.Contains(page, "$(x)") {
		t.Error("the operator's name reached the page with a RouterOS variable in it")
	}
	js, _ := os.ReadFile(filepath.Join(out, "login.js"))
	if !strings.Contains(string(js), `getElementById("code-password").value = code.value`) {
		t.Errorf("login.js does not copy the code into the password:\n%s", js)
	}

	// A second run keeps what is there unless told.
	if code, _, stderr := run("--location", "main", "--out", out); code == 0 || !strings.Contains(stderr, "--force") {
		t.Errorf("second run without --force: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run("--location", "main", "--out", out, "--force"); code != 0 {
		t.Errorf("--force: exit %d, %q", code, stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--location is required"},
		{[]string{"--location", "Main Office"}, "is not a location name"},
		{[]string{"--location", "main", "--out", filepath.Join(dir, "x"), "--logo", filepath.Join(dir, "mikrobill.hcl")}, "use a .png, .jpg, .gif or .svg image"},
	} {
		if code, _, stderr := run(tt.args...); code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want %q", tt.args, code, stderr, tt.want)
		}
	}
}
