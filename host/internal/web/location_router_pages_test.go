package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLocationRouterPages: an admin adds a location with its router
// through the locations page (a refused address is explained next to its
// field, the form kept), edits it without retyping the password (never
// shown), removes the router and deletes the location; an operator sees
// no router fields nor the edit button.
func TestLocationRouterPages(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	ctx := context.Background()
	cip := s.deps.Cipher
	form := url.Values{"name": {"main"}, "plugin": {"mikrotik"}, "router.address": {"192.0.2.1:8728"}, "router.username": {"billing"}, "router.password": {"s3cret-pass"}}
	code, body := page(t, h, http.MethodPost, "/locations", RoleAdmin, form, false)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="router.address-err"`) || !strings.Contains(body, `value="billing"`) || strings.Contains(body, "s3cret") {
		t.Errorf("an address with a port: %d; want 422 with the error next to it, the form kept but not the password:\n%.3000s", code, body)
	}
	form.Set("router.address", "192.0.2.1")
	if code, body := page(t, h, http.MethodPost, "/locations", RoleAdmin, form, false); code != http.StatusSeeOther {
		t.Fatalf("add with a router: %d %.2000s", code, body)
	}
	l, err := s.deps.DB.Q().GetLocationByName(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.deps.DB.Q().GetRouterConnection(ctx, l.ID, cip); err != nil || c.Password != "s3cret-pass" || c.Username != "billing" {
		t.Fatalf("the router saved: %+v, %v", c, err)
	}
	_, list := page(t, h, http.MethodGet, "/locations", RoleAdmin, nil, false)
	if !strings.Contains(list, "192.0.2.1") || !strings.Contains(list, `id="router-fields"`) || !strings.Contains(list, fmt.Sprintf("/locations/%d/edit", l.ID)) {
		t.Errorf("the admin's list:\n%.3000s", list)
	}
	_, list = page(t, h, http.MethodGet, "/locations", RoleOperator, nil, false)
	if strings.Contains(list, `id="router-fields"`) || strings.Contains(list, "/edit") || !strings.Contains(list, fmt.Sprintf("/locations/%d/sessions", l.ID)) {
		t.Errorf("the operator's list: router fields or edit shown, or no online now:\n%.3000s", list)
	}
	edit := fmt.Sprintf("/locations/%d/edit", l.ID)
	if code, _ := page(t, h, http.MethodGet, edit, RoleOperator, nil, false); code != http.StatusForbidden {
		t.Errorf("an operator's edit page: %d, want 403", code)
	}
	code, body = page(t, h, http.MethodGet, edit, RoleAdmin, nil, false)
	if code != http.StatusOK || strings.Contains(body, "s3cret") || !strings.Contains(body, "A password is stored") || !strings.Contains(body, `value="192.0.2.1"`) {
		t.Errorf("the edit page: %d\n%.3000s", code, body)
	}

	// Saved without a password: the stored one stays.
	save := url.Values{"name": {"main"}, "plugin": {"mikrotik"}, "description": {"HQ"}, "router.address": {"192.0.2.9"}, "router.username": {"billing"}}
	if code, body := page(t, h, http.MethodPost, fmt.Sprintf("/locations/%d", l.ID), RoleAdmin, save, false); code != http.StatusSeeOther {
		t.Fatalf("save: %d %.2000s", code, body)
	}
	if c, err := s.deps.DB.Q().GetRouterConnection(ctx, l.ID, cip); err != nil || c.Password != "s3cret-pass" || c.Address != "192.0.2.9" {
		t.Errorf("after the edit: %+v, %v", c, err)
	}
	save.Set("router.remove", "on")
	if code, body := page(t, h, http.MethodPost, fmt.Sprintf("/locations/%d", l.ID), RoleAdmin, save, false); code != http.StatusSeeOther {
		t.Fatalf("remove the router: %d %.2000s", code, body)
	}
	if _, err := s.deps.DB.Q().GetRouterConnection(ctx, l.ID, cip); err == nil {
		t.Error("the router is still there")
	}
	if code, _ := page(t, h, http.MethodPost, fmt.Sprintf("/locations/%d/delete", l.ID), RoleOperator, url.Values{}, false); code != http.StatusForbidden {
		t.Errorf("an operator's delete: %d, want 403", code)
	}
	if code, body := page(t, h, http.MethodPost, fmt.Sprintf("/locations/%d/delete", l.ID), RoleAdmin, url.Values{}, false); code != http.StatusSeeOther {
		t.Fatalf("delete: %d %.2000s", code, body)
	}
	if _, err := s.deps.DB.Q().GetLocation(ctx, l.ID); err == nil {
		t.Error("the location is still there")
	}
}
