package cli

// mikrobill hotspot login-page: the files an operator copies into a
// router's hotspot folder (login.html and its assets), branded, with the
// voucher form and a link to the portal.

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func newHotspot(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hotspot",
		Short: "Make the hotspot login page for a router",
		Long: `The hotspot commands make what a MikroTik hotspot shows walk-in customers.
They read the configuration (operator.name, server.public_url) and need no
running host.`,
	}
	cmd.AddCommand(newHotspotLoginPage(g))
	return cmd
}

func newHotspotLoginPage(g *globals) *cobra.Command {
	var location, out, logo string
	var force bool
	cmd := &cobra.Command{
		Use:   "login-page --location NAME [--out DIR]",
		Short: "Write login.html and its assets for a location's hotspot folder",
		Long: `login-page writes the hotspot login page of a location into a folder:

  login.html  the page RouterOS serves at /login, with RouterOS's $(variables):
              the form posts to $(link-login-only) with dst=$(link-orig) and
              popup=true; $(error) is shown when a login failed; $(username)
              fills the member form again
  login.css   its style (small screens first)
  login.js    copies a voucher code into the username and password fields
  logo.*      the logo given with --logo, when given

The page carries the operator's name (operator.name), a voucher form (the code
is both the username and the password, as hotspot vouchers are made), a form
for members with a username and password, and a "buy online" link to the
portal: <server.public_url>/portal?location=NAME.

Copy the files into the router's hotspot folder (Files, hotspot/, or
/ip hotspot profile set html-directory=...), replacing login.html. The forms
send the password as typed (PAP): enable "http-pap" in the hotspot server
profile's login-by (/ip hotspot profile set [find] login-by=http-pap,...).
The printed voucher sheets' QR codes open
<hotspot.login_url>?username=CODE&password=CODE, which needs http-pap too.
For the "buy online" link to open before a customer logs in, add the billing
host to the walled garden: /ip hotspot walled-garden add dst-host=HOST.

--location is the location's name (as in the admin UI). --out is the folder
to write (default ./hotspot-NAME; made when missing); files already there are
not overwritten unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if location == "" {
				return errors.New("--location is required: the location's name, such as \"main\" (mikrobill lists them in the admin UI under Locations)")
			}
			if !store.ValidLocationName(location) {
				return fmt.Errorf("--location %q is not a location name: a lower case letter, then lower case letters, digits or hyphens, such as \"main\"", location)
			}
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			if out == "" {
				out = "hotspot-" + location
			}
			page := loginPage{Operator: cfg.Operator.Name, Location: location,
				PortalURL: cfg.BaseURL(cfg.Addr()) + "/portal?" + url.Values{"location": {location}}.Encode()}
			files, err := page.files(logo)
			if err != nil {
				return err
			}
			if err := writeFiles(out, files, force); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Wrote the hotspot login page of %q to %s:\n", location, out)
			for _, f := range files {
				fmt.Fprintf(g.stdout, "  %s\n", f.name)
			}
			fmt.Fprintf(g.stdout, "Copy them into the router's hotspot folder; enable http-pap in the hotspot server profile's login-by;\n"+
				"and let customers reach %s before they log in (/ip hotspot walled-garden add dst-host=%s).\n", page.PortalURL, portalHost(page.PortalURL))
			if cfg.Operator.Name == "" {
				fmt.Fprintln(g.stderr, "warning: operator.name is not set; the page shows no operator's name")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&location, "location", "", "the location's name (required), such as \"main\"")
	f.StringVar(&out, "out", "", "the folder to write (default ./hotspot-NAME)")
	f.StringVar(&logo, "logo", "", "an image (.png, .jpg, .gif, .svg) to show above the forms")
	f.BoolVar(&force, "force", false, "overwrite files already in the folder")
	return cmd
}

func portalHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Hostname()
}

// loginPage is what login.html says.
type loginPage struct {
	Operator, Location, PortalURL string
	// Logo is the logo's file name ("" for none).
	Logo string
}

type pageFile struct {
	name string
	data []byte
}

// logoTypes are the images a logo may be.
var logoTypes = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".svg": true}

// files renders the page and its assets.
func (p loginPage) files(logo string) ([]pageFile, error) {
	var out []pageFile
	if logo != "" {
		ext := strings.ToLower(filepath.Ext(logo))
		if !logoTypes[ext] {
			return nil, fmt.Errorf("--logo %s: use a .png, .jpg, .gif or .svg image", logo)
		}
		data, err := os.ReadFile(logo)
		if err != nil {
			return nil, fmt.Errorf("--logo: %w", err)
		}
		p.Logo = "logo" + ext
		out = append(out, pageFile{p.Logo, data})
	}
	var b bytes.Buffer
	if err := loginTemplate.Execute(&b, p); err != nil {
		return nil, err
	}
	return append([]pageFile{{"login.html", b.Bytes()}, {"login.css", []byte(loginCSS)}, {"login.js", []byte(loginJS)}}, out...), nil
}

// writeFiles writes files into dir, refusing to overwrite unless force.
func writeFiles(dir string, files []pageFile, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !force {
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f.name)); err == nil {
				return fmt.Errorf("%s exists; give another --out, or --force to overwrite", filepath.Join(dir, f.name))
			}
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// routerOSText escapes text for a page RouterOS serves: HTML, and "$",
// which RouterOS would read as the start of a variable.
func routerOSText(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "$", "&#36;")
}

var loginTemplate = template.Must(template.New("login.html").Funcs(template.FuncMap{"h": routerOSText}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="pragma" content="no-cache">
<meta http-equiv="expires" content="-1">
<title>{{if .Operator}}{{h .Operator}} · {{end}}Wi-Fi login</title>
<link rel="stylesheet" href="login.css">
<script src="login.js" defer></script>
</head>
<!-- Made by mikrobill hotspot login-page --location {{h .Location}}. RouterOS replaces the $(...) variables. -->
<body>
<main>
<header>
{{if .Logo}}<img class="logo" src="{{.Logo}}" alt="">{{end}}
{{if .Operator}}<h1>{{h .Operator}}</h1>{{end}}
<p class="hint">Wi-Fi login · Masuk Wi-Fi</p>
</header>
$(if error)<p class="error" role="alert">$(error)</p>$(endif)
<form name="voucher" id="voucher" class="card" action="$(link-login-only)" method="post">
<input type="hidden" name="dst" value="$(link-orig)">
<input type="hidden" name="popup" value="true">
<label for="code">Voucher code · Kode voucher</label>
<input id="code" name="username" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required>
<input type="hidden" name="password" id="code-password">
<button type="submit">Connect · Sambungkan</button>
</form>
<form name="login" id="member" class="card" action="$(link-login-only)" method="post">
<input type="hidden" name="dst" value="$(link-orig)">
<input type="hidden" name="popup" value="true">
<p class="hint">Member login · Masuk pelanggan</p>
<label for="username">Username · Nama pengguna</label>
<input id="username" name="username" type="text" value="$(username)" autocomplete="username">
<label for="password">Password · Kata sandi</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Log in · Masuk</button>
</form>
<p class="buy"><a id="buy" href="{{h .PortalURL}}">Buy online · Beli online</a></p>
</main>
</body>
</html>
`))

const loginCSS = `/* mikrobill hotspot login page: small screens first. */
*{box-sizing:border-box}
body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#f4f6f8}
main{max-width:26rem;margin:0 auto;padding:1rem}
header{text-align:center;margin-bottom:1rem}
.logo{max-width:10rem;max-height:5rem}
h1{font-size:1.4rem;margin:.3rem 0}
.hint{color:#555;margin:.2rem 0 .6rem}
.card{background:#fff;border:1px solid #d0d0d0;border-radius:.5rem;padding:1rem;margin-bottom:1rem}
label{display:block;font-weight:600;margin:.4rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.6rem;font-size:1.1rem;border:1px solid #888;border-radius:.3rem}
#code{text-transform:uppercase;letter-spacing:.08em}
button{width:100%;margin-top:.8rem;padding:.7rem;font-size:1.05rem;border:0;border-radius:.3rem;background:#0b57d0;color:#fff}
.error{background:#fde8e8;color:#a11;border:1px solid #a11;border-radius:.3rem;padding:.6rem}
.buy{text-align:center}
.buy a{color:#0b57d0;font-weight:600}
`

const loginJS = `// mikrobill hotspot login page: a voucher's code is both its username and
// its password; codes are upper case without spaces or hyphens.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("voucher");
  if (!form) { return; }
  form.addEventListener("submit", function () {
    var code = document.getElementById("code");
    code.value = code.value.toUpperCase().replace(/[\s-]/g, "");
    document.getElementById("code-password").value = code.value;
  });
});
`
