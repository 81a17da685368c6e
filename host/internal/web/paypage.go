package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/gorilla/mux"
	"golang.org/x/text/language"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/money"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// payPageTmpl is the customer's pay page: what the invoice asks and how to
// pay it. It is public (the link carries a digest) and plain HTML, readable
// on any phone.
var payPageTmpl = template.Must(template.New("pay").Funcs(template.FuncMap{
	// The page is in English; the amount is written as the admin UI's
	// money writes it.
	"money": func(amount int64, currency string) string { return money.Format(language.English, amount, currency) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{if .View}}Invoice {{.View.Invoice.Number}}{{else}}Payment link{{end}}</title>
<style>{{.Style}}</style></head><body>
{{with .Problem}}<h1>Payment link</h1><p>{{.}}</p>{{else}}{{with .View}}
<h1>Invoice {{.Invoice.Number}}</h1>
<dl>
<dt>Package</dt><dd>{{.Plan}}</dd>
<dt>Amount</dt><dd>{{money .Invoice.Amount .Invoice.Currency}}</dd>
<dt>Status</dt><dd class="status {{if eq .Invoice.Status "paid"}}paid{{else if eq .Invoice.Status "unpaid"}}unpaid{{else}}other{{end}}">{{.Invoice.Status}}</dd>
</dl>
{{if eq .Invoice.Status "paid"}}<p>Paid, thank you. Your service is being switched on.</p>
{{else if eq .Invoice.Status "unpaid"}}
{{with .Payment}}<div class="box">
{{if .CheckoutURL}}<p><a class="button" href="{{.CheckoutURL}}" rel="noopener">Pay now</a></p>{{end}}
{{if .PayCode}}<p>Pay to: <code>{{.PayCode}}</code></p>{{end}}
{{if .QRString}}<p>QRIS: <code>{{.QRString}}</code></p>{{end}}
{{if .Instructions}}<p>{{.Instructions}}</p>{{end}}
{{if not .ExpiresAt.IsZero}}<p>Pay before {{.ExpiresAt.UTC.Format "02 Jan 2006 15:04 UTC"}}.</p>{{end}}
</div>{{else}}{{if $.View.Unavailable}}<p>The payment service cannot be reached just now; try again in a few minutes.</p>
{{else}}<p>No payment has been started for this invoice yet; ask your provider.</p>{{end}}{{end}}
{{else if eq .Invoice.Status "cancelled"}}<p>This invoice was cancelled and can no longer be paid; ask your provider for a new one.</p>
{{else}}<p>The last payment for this invoice was not completed ({{.Invoice.Status}}); ask your provider for a new payment link.</p>{{end}}
{{end}}{{end}}
</body></html>
`))

// payPageStyle is the page's only style; the page's Content-Security-Policy
// allows it by its hash and nothing else.
const payPageStyle = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}h1{font-size:1.4rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}dt{color:#555}.status{font-weight:600}.paid{color:#0a7a2f}.unpaid{color:#9a5b00}.other{color:#a11}.box{border:1px solid #ddd;border-radius:.5rem;padding:1rem;margin:1rem 0;overflow-wrap:anywhere}a.button{display:inline-block;background:#0b5fff;color:#fff;padding:.6rem 1rem;border-radius:.4rem;text-decoration:none}code{font-size:1.1rem}`

var payPageCSP = func() string {
	sum := sha256.Sum256([]byte(payPageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
}()

type payPageData struct {
	View    *billing.PayView
	Problem string
	Style   template.CSS
}

// payPage serves GET /pay/{number}?k=...
func (s *Server) payPage(w http.ResponseWriter, r *http.Request) error {
	number := mux.Vars(r)["number"]
	view, err := s.deps.Billing.PayPage(r.Context(), number, r.URL.Query().Get("k"))
	data, code := payPageData{View: view, Style: payPageStyle}, http.StatusOK
	switch {
	case errors.Is(err, billing.ErrBadPayLink), errors.Is(err, store.ErrNotFound):
		data, code = payPageData{Problem: billing.ErrBadPayLink.Error(), Style: payPageStyle}, http.StatusNotFound
	case err != nil:
		return err
	}
	// Rendered whole before anything is written, so a failed render is a
	// clean error answer, not half a page.
	var page bytes.Buffer
	if err := payPageTmpl.Execute(&page, data); err != nil {
		return fmt.Errorf("render the pay page of invoice %q: %w", number, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", payPageCSP)
	w.WriteHeader(code)
	_, _ = w.Write(page.Bytes())
	return nil
}
