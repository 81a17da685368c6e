package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestTemplates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		tp := &store.Template{Name: "welcome", Body: "Hi [[name]], welcome to [[package]]!"}
		if err := q.CreateTemplate(ctx, tp); err != nil {
			t.Fatal(err)
		}
		if tp.Channel != store.DefaultTemplateChannel {
			t.Errorf("channel = %q, want the default", tp.Channel)
		}
		got, err := q.GetTemplate(ctx, tp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tp, got); diff != "" {
			t.Errorf("GetTemplate (-created +read):\n%s", diff)
		}
		if got, err := q.GetTemplateByName(ctx, "welcome"); err != nil || got.ID != tp.ID {
			t.Errorf("GetTemplateByName = %+v, %v", got, err)
		}
		if _, err := q.GetTemplateByName(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTemplateByName(nope): %v, want ErrNotFound", err)
		}
		if _, err := q.GetTemplate(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTemplate(999): %v, want ErrNotFound", err)
		}
		if err := q.CreateTemplate(ctx, &store.Template{Name: "welcome", Body: "x"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate name: %v, want ErrConflict", err)
		}
		err = q.CreateTemplate(ctx, &store.Template{Name: "bad", Body: "Hi [[nama]], pay [[price]] by [[due]] [[nama]]"})
		var te *store.TemplateError
		if !errors.As(err, &te) || !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("unknown placeholders: %v, want a TemplateError", err)
		}
		if diff := cmp.Diff([]string{"nama", "due"}, te.Unknown); diff != "" {
			t.Errorf("unknown placeholders (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), "[[nama]], [[due]]") {
			t.Errorf("the error does not list them: %v", err)
		}
		for _, bad := range []store.Template{{Name: "Bad Name", Body: "x"}, {Name: "", Body: "x"}, {Name: "ok", Channel: "Whats App", Body: "x"}} {
			if err := q.CreateTemplate(ctx, &bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateTemplate(%+v): %v, want ErrInvalid", bad, err)
			}
		}

		tp.Body, tp.Channel = "Hello [[name]]", "sms"
		if err := q.UpdateTemplate(ctx, tp); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetTemplate(ctx, tp.ID)
		if got.Body != "Hello [[name]]" || got.Channel != "sms" || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("after update: %+v", got)
		}
		tp.Body = "Hello [[nme]]"
		if err := q.UpdateTemplate(ctx, tp); !errors.As(err, &te) || te.Unknown[0] != "nme" {
			t.Errorf("update with an unknown placeholder: %v", err)
		}
		if err := q.UpdateTemplate(ctx, &store.Template{ID: 999, Name: "x", Channel: "sms", Body: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing: %v, want ErrNotFound", err)
		}

		// Seeding adds the defaults that are absent and keeps the
		// operator's versions.
		mine := &store.Template{Name: store.TemplateExpired, Body: "[[name]]: expired."}
		if err := q.CreateTemplate(ctx, mine); err != nil {
			t.Fatal(err)
		}
		n, err := q.SeedTemplates(ctx)
		if err != nil || n != 3 {
			t.Errorf("SeedTemplates = %d, %v; want 3 added", n, err)
		}
		if n, err := q.SeedTemplates(ctx); err != nil || n != 0 {
			t.Errorf("second SeedTemplates = %d, %v; want 0", n, err)
		}
		if got, _ := q.GetTemplateByName(ctx, store.TemplateExpired); got.Body != mine.Body {
			t.Errorf("seeding overwrote the operator's template: %q", got.Body)
		}
		list, total, err := q.ListTemplates(ctx, store.Page{})
		if err != nil || total != 5 {
			t.Fatalf("ListTemplates = %d, %v", total, err)
		}
		var names []string
		for _, t := range list {
			names = append(names, t.Name)
		}
		if diff := cmp.Diff([]string{"expired", "expiry_reminder", "invoice_created", "payment_received", "welcome"}, names); diff != "" {
			t.Errorf("ListTemplates names (-want +got):\n%s", diff)
		}
		if list, _, err := q.ListTemplates(ctx, store.Page{Limit: 2, Offset: 4}); err != nil || len(list) != 1 || list[0].Name != "welcome" {
			t.Errorf("ListTemplates(offset 4) = %v, %v", list, err)
		}
		if _, _, err := q.ListTemplates(ctx, store.Page{Limit: store.MaxLimit + 1}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("huge limit: %v", err)
		}

		if err := q.DeleteTemplate(ctx, mine.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.DeleteTemplate(ctx, mine.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v, want ErrNotFound", err)
		}
		if n, err := q.SeedTemplates(ctx); err != nil || n != 1 {
			t.Errorf("SeedTemplates after a delete = %d, %v; want 1", n, err)
		}
	})
}

func TestDefaultTemplatesRender(t *testing.T) {
	for _, tp := range store.DefaultTemplates() {
		out, err := store.RenderTemplate(tp.Body, store.TemplateSampleVars())
		if err != nil {
			t.Errorf("%s: %v", tp.Name, err)
			continue
		}
		if strings.Contains(out, "[[") || !strings.Contains(out, "Budi Santoso") {
			t.Errorf("%s rendered as %q", tp.Name, out)
		}
	}
}

func TestRenderTemplate(t *testing.T) {
	vars := map[string]string{"name": "Budi", "price": "Rp5.000", "package": "[[name]]"}
	for _, tt := range []struct {
		body, want       string
		unknown, missing []string
	}{
		{body: "Hi [[name]], pay [[price]].", want: "Hi Budi, pay Rp5.000."},
		{body: "no placeholders", want: "no placeholders"},
		{body: "[[package]]", want: "[[name]]"}, // values are not expanded again
		{body: "[name] [[ name ]]", unknown: []string{" name "}},
		{body: "Hi [[name]] [[foo]] [[]]", unknown: []string{"foo", ""}},
		{body: "Pay by [[expired_date]] at [[payment_link]] [[expired_date]]", missing: []string{"expired_date", "payment_link"}},
	} {
		got, err := store.RenderTemplate(tt.body, vars)
		if tt.unknown == nil && tt.missing == nil {
			if err != nil || got != tt.want {
				t.Errorf("RenderTemplate(%q) = %q, %v; want %q", tt.body, got, err, tt.want)
			}
			continue
		}
		var te *store.TemplateError
		if !errors.As(err, &te) {
			t.Errorf("RenderTemplate(%q) = %q, %v; want a TemplateError", tt.body, got, err)
			continue
		}
		if diff := cmp.Diff(tt.unknown, te.Unknown); diff != "" {
			t.Errorf("RenderTemplate(%q) unknown (-want +got):\n%s", tt.body, diff)
		}
		if diff := cmp.Diff(tt.missing, te.Missing); diff != "" {
			t.Errorf("RenderTemplate(%q) missing (-want +got):\n%s", tt.body, diff)
		}
	}
}
