package web

// Writing answers: JSON, the list shape, a created record, a credential.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// writeJSON renders v into a buffer first, so a failed encoding is a clean
// 500 rather than half a response. HTML escaping is off: the API answers
// JSON, never HTML, so "<redacted>" is written as it is, not as
// "\u003credacted\u003e" (and nosniff keeps browsers from reading it as
// HTML).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil { // Encode ends with a newline
		http.Error(w, `{"error":{"code":"internal","message":"could not encode the response"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// listBody is the API's one list shape.
type listBody[T any] struct {
	Items      []T  `json:"items"`
	Total      int  `json:"total"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	NextOffset *int `json:"next_offset"`
}

// writeList writes a page of items.
func writeList[T any](w http.ResponseWriter, items []T, total int, page store.Page) {
	if items == nil {
		items = []T{}
	}
	body := listBody[T]{Items: items, Total: total, Limit: page.Limit, Offset: page.Offset}
	if next := page.Offset + len(items); next < total {
		body.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, body)
}

// writeCreated answers 201 with the new record and where it lives.
func writeCreated(w http.ResponseWriter, r *http.Request, id int64, v any) {
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusCreated, v)
}

// noStore marks a response that carries a credential: not cached, and not
// compressed (see compress).
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }
