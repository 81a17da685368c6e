package web

// An invoice as PDF: a receipt once paid (billing.Service.InvoicePDF, which
// the portal calls too). docs/api.md, Invoices.

import (
	"bytes"
	"fmt"
	"net/http"
)

// invoicePDF answers GET /api/v1/invoices/{id}/pdf: ?lang=id or en (default
// operator.language); ?download=1 asks the browser to save it rather than
// show it.
func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	lang := r.URL.Query().Get("lang")
	if lang != "" && lang != "id" && lang != "en" {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details",
			FieldErrors{"lang": fmt.Sprintf("%q is not a language of the PDFs: use id or en", lang)}}
	}
	var buf bytes.Buffer
	name, err := s.deps.Billing.InvoicePDF(r.Context(), &buf, id, lang)
	if err != nil {
		return err
	}
	disposition := "inline"
	if r.URL.Query().Get("download") != "" {
		disposition = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", fmt.Sprintf("%s; filename=%q", disposition, name))
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}
