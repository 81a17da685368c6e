package routertest

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Menus the router has from the start. Others appear when a test seeds a
// row with Add (a generic table: print, add, set, unset, remove, enable,
// disable, with any parameters).
const (
	MenuHotspotUser        = "/ip/hotspot/user"
	MenuHotspotUserProfile = "/ip/hotspot/user/profile"
	MenuHotspotActive      = "/ip/hotspot/active"
	MenuPPPSecret          = "/ppp/secret"
	MenuPPPProfile         = "/ppp/profile"
	MenuPPPActive          = "/ppp/active"
	MenuSystemResource     = "/system/resource"
	MenuSystemIdentity     = "/system/identity"
)

type menuKind int

const (
	kindTable  menuKind = iota // configuration: print add set unset remove enable disable
	kindActive                 // run-time state: print remove
	kindSingle                 // one row, no .id: print
)

// menuDef describes how a menu behaves.
type menuDef struct {
	kind menuKind
	// params the menu accepts in add/set/unset; nil accepts any.
	params map[string]bool
	// defaults a new row gets (before the added attributes).
	defaults map[string]string
	// dupMessage is the trap for an add (or rename) to an existing name.
	dupMessage string
	// profileMenu, when set, is the menu the "profile" parameter must name
	// a row of.
	profileMenu string
	// enums: parameter -> allowed values.
	enums map[string][]string
}

type table struct {
	def  *menuDef
	rows []map[string]string // in .id order (ids only grow)
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// builtinMenus: the parameters are RouterOS 7's for each menu.
var builtinMenus = map[string]*menuDef{
	MenuHotspotUser: {
		kind: kindTable,
		params: set("name", "password", "profile", "comment", "disabled", "server", "address", "mac-address",
			"email", "routes", "limit-uptime", "limit-bytes-in", "limit-bytes-out", "limit-bytes-total"),
		defaults: map[string]string{"profile": "default", "disabled": "false", "dynamic": "false",
			"uptime": "0s", "bytes-in": "0", "bytes-out": "0", "packets-in": "0", "packets-out": "0"},
		dupMessage:  "failure: already have user with this name",
		profileMenu: MenuHotspotUserProfile,
	},
	MenuHotspotUserProfile: {
		kind: kindTable,
		params: set("name", "comment", "rate-limit", "shared-users", "session-timeout", "idle-timeout",
			"keepalive-timeout", "status-autorefresh", "address-pool", "address-list", "add-mac-cookie",
			"mac-cookie-timeout", "transparent-proxy", "open-status-page", "on-login", "on-logout",
			"incoming-filter", "outgoing-filter", "incoming-packet-mark", "outgoing-packet-mark",
			"insert-queue-before", "parent-queue", "queue-type", "advertise", "advertise-interval",
			"advertise-timeout", "advertise-url"),
		defaults: map[string]string{"shared-users": "1", "idle-timeout": "none", "keepalive-timeout": "2m",
			"status-autorefresh": "1m", "add-mac-cookie": "true", "mac-cookie-timeout": "3d",
			"transparent-proxy": "false", "open-status-page": "always", "default": "false"},
		dupMessage: "failure: entry already exists",
	},
	MenuPPPSecret: {
		kind: kindTable,
		params: set("name", "password", "profile", "service", "comment", "disabled", "caller-id",
			"local-address", "remote-address", "remote-ipv6-prefix", "routes", "ipv6-routes",
			"limit-bytes-in", "limit-bytes-out"),
		defaults:    map[string]string{"service": "any", "profile": "default", "disabled": "false"},
		dupMessage:  "failure: entry already exists",
		profileMenu: MenuPPPProfile,
		enums: map[string][]string{
			"service": {"any", "async", "l2tp", "ovpn", "pppoe", "pptp", "sstp"},
		},
	},
	MenuPPPProfile: {
		kind: kindTable,
		params: set("name", "comment", "rate-limit", "local-address", "remote-address", "address-list",
			"session-timeout", "idle-timeout", "only-one", "dns-server", "wins-server", "bridge",
			"bridge-horizon", "bridge-learning", "bridge-path-cost", "bridge-port-priority",
			"change-tcp-mss", "use-compression", "use-encryption", "use-mpls", "use-upnp", "use-ipv6",
			"incoming-filter", "outgoing-filter", "insert-queue-before", "parent-queue", "queue-type",
			"interface-list", "on-up", "on-down", "dhcpv6-pd-pool", "remote-ipv6-prefix-pool"),
		defaults: map[string]string{"only-one": "default", "change-tcp-mss": "default",
			"use-compression": "default", "use-encryption": "default", "use-mpls": "default",
			"use-upnp": "default", "use-ipv6": "yes", "bridge-learning": "default", "default": "false"},
		dupMessage: "failure: entry already exists",
		enums: map[string][]string{
			"only-one": {"default", "no", "yes"},
		},
	},
	MenuHotspotActive: {
		kind: kindActive,
		defaults: map[string]string{"server": "hotspot1", "uptime": "0s", "idle-time": "0s",
			"bytes-in": "0", "bytes-out": "0", "packets-in": "0", "packets-out": "0", "radius": "false",
			"login-by": "http-chap"},
	},
	MenuPPPActive: {
		kind:     kindActive,
		defaults: map[string]string{"service": "pppoe", "uptime": "0s", "radius": "false"},
	},
	MenuSystemResource: {kind: kindSingle},
	MenuSystemIdentity: {kind: kindSingle},
}

// boolParams print "true"/"false" whatever form (yes/no) they were set in.
var boolParams = set("disabled", "add-mac-cookie", "transparent-proxy", "advertise", "radius", "dynamic",
	"default")

// durationParams print in RouterOS' time format whatever form they were
// set in; "none" is kept.
var durationParams = set("limit-uptime", "session-timeout", "idle-timeout", "keepalive-timeout",
	"status-autorefresh", "mac-cookie-timeout", "advertise-timeout", "uptime", "idle-time",
	"session-time-left")

// normalizeValue returns the value as RouterOS prints it, or ok false when
// RouterOS would refuse it.
func (r *Router) normalizeValue(key, v string) (string, bool) {
	switch {
	case boolParams[key]:
		switch strings.ToLower(v) {
		case "yes", "true":
			return "true", true
		case "no", "false":
			return "false", true
		}
		return v, false
	case durationParams[key]:
		if v == "none" || v == "" {
			return v, true
		}
		d, err := parseDuration(v)
		if err != nil {
			return v, false
		}
		return formatDuration(d, r.opts.LegacyDurations), true
	}
	return v, true
}

func (r *Router) seedDefaults() {
	for menu, def := range builtinMenus {
		r.tables[menu] = &table{def: def}
	}
	r.addLocked(MenuHotspotUserProfile, map[string]string{"name": "default", "default": "true"})
	r.addLocked(MenuPPPProfile, map[string]string{"name": "default", "default": "true",
		"change-tcp-mss": "yes", "only-one": "default"})
	r.addLocked(MenuPPPProfile, map[string]string{"name": "default-encryption", "default": "true",
		"change-tcp-mss": "yes", "use-encryption": "yes"})
	r.tables[MenuSystemIdentity].rows = []map[string]string{{"name": "MikroTik"}}
	r.tables[MenuSystemResource].rows = []map[string]string{{
		"version":           r.opts.Version,
		"build-time":        "2025-03-11 11:59:04",
		"factory-software":  "7.1",
		"free-memory":       "874512384",
		"total-memory":      "1073741824",
		"cpu":               "QEMU",
		"cpu-count":         strconv.Itoa(min(runtime.NumCPU(), 4)),
		"cpu-frequency":     "2400",
		"cpu-load":          "3",
		"free-hdd-space":    "93454336",
		"total-hdd-space":   "134217728",
		"architecture-name": "x86_64",
		"board-name":        "CHR QEMU Standard PC (i440FX + PIIX, 1996)",
		"platform":          "MikroTik",
	}}
}

// isActive reports whether menu is one of the run-time session menus.
func isActive(t *table) bool { return t.def.kind == kindActive }

// rowsLocked returns copies of the rows of menu as print shows them.
func (r *Router) rowsLocked(menu string) []map[string]string {
	t := r.tables[menu]
	if t == nil {
		return nil
	}
	out := make([]map[string]string, 0, len(t.rows))
	for _, row := range t.rows {
		c := maps.Clone(row)
		if menu == MenuSystemResource {
			if _, ok := c["uptime"]; !ok {
				c["uptime"] = formatDuration(time.Since(r.started), r.opts.LegacyDurations)
			}
		}
		out = append(out, c)
	}
	return out
}

// Rows returns copies of the rows of a menu (e.g. "/ip/hotspot/user",
// without a trailing command), in .id order, as print would show them; nil
// for a menu the router does not have. /system/resource and
// /system/identity have one row (without .id).
func (r *Router) Rows(menu string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rowsLocked(menu)
}

// Find returns a copy of the row of menu whose "name" is name; in the
// active menus, whose "user" is name (/ip/hotspot/active) or whose "name"
// is name (/ppp/active, where RouterOS calls the user "name").
func (r *Router) Find(menu, name string) (map[string]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[menu]
	if t == nil {
		return nil, false
	}
	if row := t.byName(name); row != nil {
		return maps.Clone(row), true
	}
	return nil, false
}

func (t *table) byName(name string) map[string]string {
	for _, row := range t.rows {
		if row["name"] == name {
			return row
		}
		if isActive(t) {
			if _, hasName := row["name"]; !hasName && row["user"] == name {
				return row
			}
		}
	}
	return nil
}

func (t *table) byID(id string) (int, map[string]string) {
	for i, row := range t.rows {
		if row[".id"] == id {
			return i, row
		}
	}
	return -1, nil
}

// Add seeds a row into menu, as it is, without the checks a command gets
// (so a test can make any state: a user that is not managed, an active
// session {"user": "bob", "address": "10.5.50.2"}), and returns its .id,
// e.g. "*1A". Missing attributes get the menu's defaults; booleans and
// time values are normalized as RouterOS prints them. In /ppp/active a
// "user" attribute is stored as "name", the attribute RouterOS uses there.
// A menu the router does not have becomes a generic table. For the
// single-row menus (/system/resource, /system/identity) Add merges attrs
// into the row (e.g. {"cpu-load": "50"}) and returns "".
func (r *Router) Add(menu string, attrs map[string]string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(menu, attrs)
}

func (r *Router) addLocked(menu string, attrs map[string]string) string {
	t := r.tables[menu]
	if t == nil {
		t = &table{def: &menuDef{kind: kindTable, dupMessage: "failure: entry already exists"}}
		r.tables[menu] = t
	}
	if t.def.kind == kindSingle {
		if len(t.rows) == 0 {
			t.rows = []map[string]string{{}}
		}
		for k, v := range attrs {
			t.rows[0][k] = v
		}
		return ""
	}
	row := make(map[string]string, len(t.def.defaults)+len(attrs)+1)
	for k, v := range t.def.defaults {
		row[k] = v
	}
	for k, v := range attrs {
		if menu == MenuPPPActive && k == "user" {
			if _, ok := attrs["name"]; !ok {
				k = "name"
			}
		}
		row[k] = v
	}
	for k, v := range row {
		if nv, ok := r.normalizeValue(k, v); ok {
			row[k] = nv
		}
		if row[k] == "" {
			delete(row, k)
		}
	}
	r.nextID++
	id := fmt.Sprintf("*%X", r.nextID)
	row[".id"] = id
	t.rows = append(t.rows, row)
	return id
}

// Set changes attributes of the row of menu with .id id, as it is, without
// the checks a command gets (an empty value removes the attribute), and
// reports whether the row exists. For the single-row menus id is ignored.
func (r *Router) Set(menu, id string, attrs map[string]string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[menu]
	if t == nil {
		return false
	}
	var row map[string]string
	if t.def.kind == kindSingle {
		if len(t.rows) == 0 {
			return false
		}
		row = t.rows[0]
	} else if _, row = t.byID(id); row == nil {
		return false
	}
	for k, v := range attrs {
		if k == ".id" {
			continue
		}
		if nv, ok := r.normalizeValue(k, v); ok {
			v = nv
		}
		if v == "" {
			delete(row, k)
		} else {
			row[k] = v
		}
	}
	return true
}

// Remove deletes the row of menu with .id id (e.g. a session that ended)
// and reports whether it existed.
func (r *Router) Remove(menu, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[menu]
	if t == nil || t.def.kind == kindSingle {
		return false
	}
	i, _ := t.byID(id)
	if i < 0 {
		return false
	}
	t.rows = slices.Delete(t.rows, i, i+1)
	return true
}
