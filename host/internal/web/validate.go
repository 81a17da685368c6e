package web

// Reading and checking what a request sends: the JSON body, the raw body a
// plugin gets, path and query values, and the field checks the handlers
// share. A handler collects its field errors in a validation and answers
// them all at once (422 validation_failed, a message per field).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// FieldErrors maps a JSON field to what is wrong with it.
type FieldErrors map[string]string

// validation collects field errors.
type validation struct{ errs FieldErrors }

// check records msg for field unless ok.
func (v *validation) check(ok bool, field, msg string) {
	if ok {
		return
	}
	if v.errs == nil {
		v.errs = FieldErrors{}
	}
	if _, seen := v.errs[field]; !seen {
		v.errs[field] = msg
	}
}

// err returns a 422 with every field error, or nil.
func (v *validation) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details", v.errs}
}

// decodeJSON reads a JSON request body strictly: unknown fields and
// trailing data are errors naming what is wrong.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json", nil}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit), nil}
		}
		return &apiError{http.StatusBadRequest, "bad_body", "could not read the body: " + err.Error(), nil}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "bad_json", jsonProblem(err), nil}
	}
	if dec.More() {
		return &apiError{http.StatusBadRequest, "bad_json", "unexpected data after the JSON object", nil}
	}
	return nil
}

func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q: expected %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.EOF):
		return "the body is empty; send a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return err.Error()
	}
}

// readBody reads a raw request body (for a plugin), limited by the body
// limit.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit), nil}
		}
		return nil, &apiError{http.StatusBadRequest, "bad_body", "could not read the body", nil}
	}
	return body, nil
}

// idVar reads a numeric path variable.
func idVar(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	if err != nil || id <= 0 {
		return 0, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("%s must be a positive number", name), nil}
	}
	return id, nil
}

// queryID reads an optional positive number from the query (0 when
// absent), recording a field error when it is malformed.
func queryID(r *http.Request, v *validation, name string) int64 {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 0
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	v.check(err == nil && id > 0, name, "a positive number")
	return id
}

// pageFrom reads ?limit= and ?offset=.
func pageFrom(r *http.Request) (store.Page, error) {
	var p store.Page
	var v validation
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		v.check(err == nil && n >= 1 && n <= store.MaxLimit, "limit", fmt.Sprintf("a whole number from 1 to %d", store.MaxLimit))
		p.Limit = n
	}
	if s := r.URL.Query().Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		v.check(err == nil && n >= 0, "offset", "a whole number, 0 or more")
		p.Offset = n
	}
	if err := v.err(); err != nil {
		return p, err
	}
	return p.Normalized()
}

// textOK reports whether s is at most max characters without control
// characters (newlines and tabs allowed when multiline).
func textOK(s string, max int, multiline bool) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return false
		}
	}
	return true
}

// checkName records a field error unless s is a non-empty single-line text
// of at most max characters.
func checkName(v *validation, field, s string, max int) {
	v.check(strings.TrimSpace(s) != "", field, "required")
	v.check(textOK(s, max, false), field, fmt.Sprintf("at most %d characters on one line", max))
}

// emailOK reports whether e looks like a plain email address
// (name@domain.tld).
func emailOK(e string) bool {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	return at > 0 && strings.Contains(e[at+1:], ".") && !strings.HasSuffix(e, ".")
}

// checkRef records a field error when a referenced record is missing and
// returns any other error of the lookup.
func checkRef(v *validation, field, what string, id int64, err error) error {
	switch {
	case id <= 0:
		v.check(false, field, "required: the id of a "+what)
	case errors.Is(err, store.ErrNotFound):
		v.check(false, field, fmt.Sprintf("no %s has id %d", what, id))
	case err != nil:
		return err
	}
	return nil
}

// fieldNotFound turns a missing referenced record into a 422 on its field.
func fieldNotFound(err error, field, msg string) error {
	if errors.Is(err, store.ErrNotFound) {
		return (&validation{errs: FieldErrors{field: msg}}).err()
	}
	return err
}
