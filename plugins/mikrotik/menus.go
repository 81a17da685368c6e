package main

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// menus are the RouterOS menus of one user kind.
type menus struct {
	kind    router.UserKind
	user    string // users: hotspot users or PPP secrets
	profile string
	active  string // active sessions
}

var (
	hotspotMenus = menus{kind: router.KindHotspot, user: "/ip/hotspot/user", profile: "/ip/hotspot/user/profile", active: "/ip/hotspot/active"}
	pppMenus     = menus{kind: router.KindPPP, user: "/ppp/secret", profile: "/ppp/profile", active: "/ppp/active"}
)

// menusFor returns the menus of a kind; the empty kind is an error.
func menusFor(k router.UserKind) (menus, error) {
	switch k {
	case router.KindHotspot:
		return hotspotMenus, nil
	case router.KindPPP:
		return pppMenus, nil
	case "":
		return menus{}, fmt.Errorf("%w: kind is required: %q or %q", sdk.ErrInvalidArgument, router.KindHotspot, router.KindPPP)
	default:
		return menus{}, fmt.Errorf("%w: kind must be %q or %q, got %q", sdk.ErrInvalidArgument, router.KindHotspot, router.KindPPP, k)
	}
}

// menusOrAll returns the menus of a kind, or of both kinds when it is
// empty (list operations).
func menusOrAll(k router.UserKind) ([]menus, error) {
	if k == "" {
		return []menus{hotspotMenus, pppMenus}, nil
	}
	m, err := menusFor(k)
	if err != nil {
		return nil, err
	}
	return []menus{m}, nil
}

// maxNameLen bounds the names the plugin writes.
const maxNameLen = 255

// checkName checks a user or profile name.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s is required", sdk.ErrInvalidArgument, what)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: %s is %d bytes long, at most %d are allowed", sdk.ErrInvalidArgument, what, len(name), maxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: %s %q starts or ends with a space", sdk.ErrInvalidArgument, what, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s %q contains a control character", sdk.ErrInvalidArgument, what, name)
	}
	return nil
}

// checkValue checks a free-text value the plugin writes.
func checkValue(what, v string) error {
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: %s contains a control character", sdk.ErrInvalidArgument, what)
	}
	return nil
}

// notManaged is the error for an entry the plugin did not create.
func notManaged(loc, menu, name, comment string) error {
	why := "it has no comment"
	if comment != "" {
		why = fmt.Sprintf("its comment %q does not start with %q", comment, marker)
	}
	return fmt.Errorf("%w: %s %q on router %q: %s, so mikrobill leaves it alone; rename one of them, or take the entry over by starting its comment with %q on the router",
		router.ErrNotManaged, menu, name, loc, why, marker)
}

// find returns the entry of menu with this name, or nil.
func (s *session) find(menu, name string) (map[string]string, error) {
	rows, err := s.run(menu+"/print", "?name="+name)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r["name"] == name {
			return r, nil
		}
	}
	return nil, nil
}

// reread reads an entry just written.
func (s *session) reread(menu, name string) (map[string]string, error) {
	row, err := s.find(menu, name)
	if err == nil && row == nil {
		err = fmt.Errorf("%w: %s %q on router %q was removed right after it was written; retry", sdk.ErrConflict, menu, name, s.l.cfg.ID)
	}
	return row, err
}

// add adds the entry: name and every attribute whose value is not what the
// router assumes when it is left out.
func (s *session) add(menu, name string, attrs []attr) error {
	words := []string{"=name=" + name}
	var keys []string
	for _, a := range attrs {
		if a.value == "" || a.same("", false) {
			continue
		}
		words = append(words, "="+a.key+"="+a.value)
		keys = append(keys, a.key)
	}
	if _, err := s.run(menu+"/add", words...); err != nil {
		return err
	}
	s.l.log.Debug("entry added", "menu", menu, "name", name, "attributes", keys)
	return nil
}

// update writes the attributes that differ: one set for the values, and an
// unset for each attribute to clear (RouterOS refuses an empty address).
func (s *session) update(menu, name, id string, changes []attr) error {
	words := []string{"=.id=" + id}
	var clear []string
	for _, a := range changes {
		if a.value == "" {
			clear = append(clear, a.key)
			continue
		}
		words = append(words, "="+a.key+"="+a.value)
	}
	if len(words) > 1 {
		if _, err := s.run(menu+"/set", words...); err != nil {
			return err
		}
	}
	for _, k := range clear {
		if _, err := s.run(menu+"/unset", "=.id="+id, "=value-name="+k); err != nil {
			return err
		}
	}
	s.l.log.Debug("entry updated", "menu", menu, "name", name, "changed", keysOf(changes))
	return nil
}

// ensure brings the entry named name in menu to attrs: it adds it when
// missing, sets only the attributes that differ, and writes nothing when
// the router already holds them all. It answers ErrNotManaged, writing
// nothing, for an entry the plugin did not create. wrote and created are
// set when it sends a write (and stay set when a broken connection makes
// the operation run again).
func (s *session) ensure(menu, name string, attrs []attr, wrote, created *bool) (map[string]string, error) {
	row, err := s.find(menu, name)
	if err != nil {
		return nil, err
	}
	if row == nil {
		*wrote, *created = true, true
		if err := s.add(menu, name, attrs); err != nil {
			return nil, err
		}
	} else {
		if !managed(row["comment"]) {
			return nil, notManaged(s.l.cfg.ID, menu, name, row["comment"])
		}
		changes := diff(row, attrs)
		if len(changes) == 0 {
			return row, nil
		}
		*wrote = true
		if err := s.update(menu, name, row[".id"], changes); err != nil {
			return nil, err
		}
	}
	row, err = s.reread(menu, name)
	if err != nil {
		return nil, err
	}
	var shown []string
	for _, a := range diff(row, attrs) {
		if !a.secret { // unreadable without the sensitive policy
			shown = append(shown, a.key+"="+row[a.key])
		}
	}
	if len(shown) > 0 {
		s.l.log.Warn("the router holds what was written in another form; it will be written again on every ensure",
			"menu", menu, "name", name, "router_values", shown)
	}
	return row, nil
}
