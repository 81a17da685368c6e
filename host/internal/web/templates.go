package web

// Message templates.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

type templateInput struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	Body    string `json:"body"`
}

// maxTemplateBody bounds a message (WhatsApp's own limit is 4096).
const maxTemplateBody = 4096

func (in *templateInput) validate() error {
	var v validation
	v.check(store.ValidTemplateName(in.Name), "name", fmt.Sprintf("a lower case letter, then up to 62 lower case letters, digits or underscores, such as %q", store.TemplateExpiryReminder))
	v.check(store.ValidTemplateName(in.Channel), "channel", fmt.Sprintf("a lower case word such as %q", store.DefaultTemplateChannel))
	v.check(strings.TrimSpace(in.Body) != "", "body", "required: the message text")
	v.check(textOK(in.Body, maxTemplateBody, true), "body", fmt.Sprintf("at most %d characters", maxTemplateBody))
	if err := store.ValidateTemplateBody(in.Body); err != nil {
		v.check(false, "body", err.Error())
	}
	return v.err()
}

func (in *templateInput) apply(t *store.Template) {
	t.Name, t.Channel, t.Body = in.Name, in.Channel, in.Body
}

func templateEvent(action string, t *store.Template) *auditEvent {
	return event(action, "template", t.ID, map[string]string{"name": t.Name, "channel": t.Channel})
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.catalogQ().ListTemplates(r.Context(), page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	t, err := s.catalogQ().GetTemplate(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) createTemplate(w http.ResponseWriter, r *http.Request) error {
	in := templateInput{Channel: store.DefaultTemplateChannel}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	var t store.Template
	in.apply(&t)
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateTemplate(r.Context(), &t); err != nil {
			return nil, err
		}
		return templateEvent("template.created", &t), nil
	})
	if err != nil {
		return err
	}
	writeCreated(w, r, t.ID, &t)
	return nil
}

func (s *Server) updateTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	q := s.catalogQ()
	t, err := q.GetTemplate(r.Context(), id)
	if err != nil {
		return err
	}
	in := templateInput{Name: t.Name, Channel: t.Channel, Body: t.Body}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	in.apply(t)
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.UpdateTemplate(r.Context(), t); err != nil {
			return nil, err
		}
		return templateEvent("template.updated", t), nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		return event("template.deleted", "template", id, nil), q.DeleteTemplate(r.Context(), id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// templatePreview is a template rendered with sample values.
type templatePreview struct {
	Rendered string            `json:"rendered"`
	Vars     map[string]string `json:"vars"`
}

// previewTemplate renders a stored template with sample values. The body
// is optional: {"vars": {"name": "Siti"}} replaces some of the samples.
func (s *Server) previewTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Vars map[string]string `json:"vars"`
	}
	// An empty body is fine: peek before decoding strictly.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeJSON(r, &in) // reports the read error (such as a body that is too large)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	var v validation
	for name := range in.Vars {
		v.check(!strings.ContainsAny(name, "[]") && len(store.UnknownPlaceholders("[["+name+"]]")) == 0,
			"vars."+name, "not a placeholder; the placeholders are "+strings.Join(store.TemplatePlaceholders, ", "))
	}
	if err := v.err(); err != nil {
		return err
	}
	t, err := s.catalogQ().GetTemplate(r.Context(), id)
	if err != nil {
		return err
	}
	vars := store.TemplateSampleVars()
	maps.Copy(vars, in.Vars)
	out, err := store.RenderTemplate(t.Body, vars)
	if err != nil {
		var te *store.TemplateError
		if errors.As(err, &te) {
			return &apiError{http.StatusUnprocessableEntity, "validation_failed", "the template cannot be rendered; fix its body", FieldErrors{"body": te.Error()}}
		}
		return err
	}
	writeJSON(w, http.StatusOK, templatePreview{Rendered: out, Vars: vars})
	return nil
}
