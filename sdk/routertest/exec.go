package routertest

import (
	"crypto/md5" //nolint:gosec // the pre-6.43 RouterOS login is MD5; this fake speaks it
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Trap messages, as RouterOS words them.
const (
	msgNoSuchCommand   = "no such command prefix"
	msgNotLoggedIn     = "not logged in"
	msgBadLogin        = "invalid user name or password (6)"
	msgNoSuchItem      = "no such item"
	msgProfileNotFound = "input does not match any value of profile"
	msgInterrupted     = "interrupted"
	msgQuit            = "session terminated on request"
)

func done(attrs ...string) sentences {
	return sentences{append([]string{"!done"}, attrs...)}
}

func trap(message string) sentences { return trapReply(message, "") }

// exec runs a command and returns its reply; quit reports that the
// connection ends after it (the reply was written already).
func (c *conn) exec(cmd Command) (out sentences, quit bool) {
	switch cmd.Word {
	case "/quit":
		c.reply("", sentences{{"!fatal", msgQuit}})
		return nil, true
	case "/login":
		return c.login(cmd), false
	}
	if !c.loggedIn.Load() {
		return trap(msgNotLoggedIn), false
	}
	if cmd.Word == "/cancel" {
		return c.cancel(cmd), false
	}
	i := strings.LastIndex(cmd.Word, "/")
	if i <= 0 {
		return trapReply(msgNoSuchCommand, "0"), false
	}
	menu, verb := cmd.Word[:i], cmd.Word[i+1:]
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[menu]
	if t == nil {
		return trapReply(msgNoSuchCommand, "0"), false
	}
	switch {
	case verb == "print" || verb == "getall":
		return r.print(menu, cmd), false
	case verb == "remove" && t.def.kind != kindSingle:
		return r.remove(t, cmd), false
	case t.def.kind != kindTable:
	case verb == "add":
		return r.add(menu, t, cmd), false
	case verb == "set":
		return r.set(t, cmd), false
	case verb == "unset":
		return r.unset(t, cmd), false
	case verb == "enable", verb == "disable":
		return r.enable(t, cmd, verb == "enable"), false
	}
	return trapReply(msgNoSuchCommand, "0"), false
}

// login implements both RouterOS logins (see Options.LegacyLogin).
func (c *conn) login(cmd Command) sentences {
	r := c.r
	name, hasName := cmd.Attrs["name"]
	password, hasPassword := cmd.Attrs["password"]
	response, hasResponse := cmd.Attrs["response"]
	ok := false
	switch {
	case r.opts.LegacyLogin && hasResponse:
		c.mu.Lock()
		challenge := c.challenge
		c.challenge = nil
		c.mu.Unlock()
		ok = hasName && challenge != nil && name == r.opts.Username &&
			subtle.ConstantTimeCompare([]byte(strings.ToLower(response)),
				[]byte(challengeResponse(r.opts.Password, challenge))) == 1
	case r.opts.LegacyLogin:
		// Before 6.43 "/login" (with or without =name= =password=, which
		// were ignored) starts the challenge.
		challenge := make([]byte, 16)
		_, _ = rand.Read(challenge)
		c.mu.Lock()
		c.challenge = challenge
		c.mu.Unlock()
		return done("=ret=" + hex.EncodeToString(challenge))
	case hasName && hasPassword:
		ok = name == r.opts.Username &&
			subtle.ConstantTimeCompare([]byte(password), []byte(r.opts.Password)) == 1
	}
	if !ok {
		r.logf("routertest: %s: login refused", c.nc.RemoteAddr())
		return trap(msgBadLogin)
	}
	c.loggedIn.Store(true)
	r.mu.Lock()
	r.logins++
	r.mu.Unlock()
	r.logf("routertest: %s: logged in as %q", c.nc.RemoteAddr(), name)
	return done()
}

// challengeResponse is the pre-6.43 login response: "00" and the hex MD5
// of a zero byte, the password and the challenge.
func challengeResponse(password string, challenge []byte) string {
	h := md5.New() //nolint:gosec
	h.Write([]byte{0})
	h.Write([]byte(password))
	h.Write(challenge)
	return "00" + hex.EncodeToString(h.Sum(nil))
}

// cancel ends delayed tagged commands: "/cancel =tag=X" the one tagged X,
// "/cancel" every one. Each cancelled command answers !trap
// =category=2 =message=interrupted, then !done.
func (c *conn) cancel(cmd Command) sentences {
	c.mu.Lock()
	defer c.mu.Unlock()
	tag, one := cmd.Attrs["tag"]
	for t, ch := range c.waiting {
		if !one || t == tag {
			close(ch)
			delete(c.waiting, t)
		}
	}
	return done()
}

// query is one parsed query word.
type query struct {
	op         byte // '=' equal, '+' has, '-' has not
	key, value string
}

func (r *Router) parseQueries(words []string) ([]query, string) {
	qs := make([]query, 0, len(words))
	for _, w := range words {
		body := w[1:]
		switch {
		case body == "":
			return nil, "unsupported query " + w
		case body[0] == '-':
			qs = append(qs, query{op: '-', key: body[1:]})
		case body[0] == '=':
			k, v, _ := strings.Cut(body[1:], "=")
			qs = append(qs, query{op: '=', key: k, value: v})
		case body[0] == '#' || body[0] == '<' || body[0] == '>':
			return nil, "unsupported query operation " + w
		default:
			k, v, hasValue := strings.Cut(body, "=")
			if !hasValue {
				qs = append(qs, query{op: '+', key: k})
				continue
			}
			qs = append(qs, query{op: '=', key: k, value: v})
		}
	}
	for i, q := range qs {
		if q.key == "" {
			return nil, "unsupported query " + words[i]
		}
		if q.op == '=' {
			qs[i].value, _ = r.normalizeValue(q.key, q.value)
		}
	}
	return qs, ""
}

func (q query) match(row map[string]string) bool {
	v, has := row[q.key]
	switch q.op {
	case '+':
		return has
	case '-':
		return !has
	default:
		return v == q.value
	}
}

// print answers print and getall: every row matching all queries, with
// only the .proplist properties when given; =count-only= answers the count
// in !done =ret=.
func (r *Router) print(menu string, cmd Command) sentences {
	qs, bad := r.parseQueries(cmd.Queries)
	if bad != "" {
		return trap(bad)
	}
	var props []string
	if p, ok := cmd.Attrs[".proplist"]; ok {
		props = strings.Split(p, ",")
	}
	var out sentences
	n := 0
	for _, row := range r.rowsLocked(menu) {
		if !slices.ContainsFunc(qs, func(q query) bool { return !q.match(row) }) {
			n++
			out = append(out, append([]string{"!re"}, rowWords(row, props)...))
		}
	}
	if _, ok := cmd.Attrs["count-only"]; ok {
		return done("=ret=" + strconv.Itoa(n))
	}
	if n == 0 && !r.opts.NoEmpty {
		out = append(out, []string{"!empty"})
	}
	return append(out, []string{"!done"})
}

// rowWords renders a row as attribute words: .id first, then the name,
// then the rest by key (or in .proplist order when props is set).
func rowWords(row map[string]string, props []string) []string {
	var keys []string
	if props != nil {
		for _, p := range props {
			if _, ok := row[p]; ok && !slices.Contains(keys, p) {
				keys = append(keys, p)
			}
		}
	} else {
		keys = slices.SortedFunc(maps.Keys(row), func(a, b string) int {
			return strings.Compare(keyRank(a)+a, keyRank(b)+b)
		})
	}
	words := make([]string, len(keys))
	for i, k := range keys {
		words[i] = "=" + k + "=" + row[k]
	}
	return words
}

func keyRank(k string) string {
	switch k {
	case ".id":
		return "0"
	case "name", "user":
		return "1"
	}
	return "2"
}

// targets resolves =.id= or =numbers= (a comma-separated list of .id or
// names) to row indexes.
func (t *table) targets(cmd Command) ([]int, bool) {
	spec, ok := cmd.Attrs[".id"]
	if !ok {
		spec, ok = cmd.Attrs["numbers"]
	}
	if !ok || spec == "" {
		return nil, false
	}
	var idx []int
	for _, item := range strings.Split(spec, ",") {
		i := -1
		if strings.HasPrefix(item, "*") {
			i, _ = t.byID(item)
		} else if row := t.byName(item); row != nil {
			i, _ = t.byID(row[".id"])
		}
		if i < 0 {
			return nil, false
		}
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	return idx, true
}

// checkAttrs validates and normalizes the attributes of an add or set
// (everything but .id and numbers), returning a trap message when
// RouterOS would refuse them.
func (r *Router) checkAttrs(t *table, attrs map[string]string) (map[string]string, string) {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if k == ".id" || k == "numbers" {
			continue
		}
		if t.def.params != nil && !t.def.params[k] {
			return nil, "unknown parameter " + k
		}
		nv, ok := r.normalizeValue(k, v)
		if !ok {
			return nil, "invalid value for argument " + k
		}
		if allowed, isEnum := t.def.enums[k]; isEnum && nv != "" && !slices.Contains(allowed, nv) {
			return nil, "input does not match any value of " + k
		}
		out[k] = nv
	}
	if p, ok := out["profile"]; ok && t.def.profileMenu != "" {
		pt := r.tables[t.def.profileMenu]
		if pt == nil || pt.byName(p) == nil {
			return nil, msgProfileNotFound
		}
	}
	if n, ok := out["name"]; ok && n == "" {
		return nil, "invalid value for argument name"
	}
	return out, ""
}

func (r *Router) add(menu string, t *table, cmd Command) sentences {
	attrs, bad := r.checkAttrs(t, cmd.Attrs)
	if bad != "" {
		return trap(bad)
	}
	if _, ok := cmd.Attrs[".id"]; ok {
		return trap("unknown parameter .id")
	}
	name, ok := attrs["name"]
	if !ok {
		return trap("missing value(s) of argument(s) name")
	}
	if t.byName(name) != nil {
		return trap(t.def.dupMessage)
	}
	delete(attrs, "default")
	return done("=ret=" + r.addLocked(menu, attrs))
}

func (r *Router) set(t *table, cmd Command) sentences {
	idx, ok := t.targets(cmd)
	if !ok {
		return trap(msgNoSuchItem)
	}
	attrs, bad := r.checkAttrs(t, cmd.Attrs)
	if bad != "" {
		return trap(bad)
	}
	if name, ok := attrs["name"]; ok {
		if other := t.byName(name); other != nil && (len(idx) > 1 || other[".id"] != t.rows[idx[0]][".id"]) {
			return trap(t.def.dupMessage)
		}
	}
	for _, i := range idx {
		for k, v := range attrs {
			if v == "" {
				delete(t.rows[i], k)
			} else {
				t.rows[i][k] = v
			}
		}
	}
	return done()
}

func (r *Router) unset(t *table, cmd Command) sentences {
	idx, ok := t.targets(cmd)
	if !ok {
		return trap(msgNoSuchItem)
	}
	var keys []string
	for _, k := range strings.Split(cmd.Attrs["value-name"], ",") {
		if k == "" || k == "name" || (t.def.params != nil && !t.def.params[k]) {
			return trap("unknown parameter " + k)
		}
		keys = append(keys, k)
	}
	for _, i := range idx {
		for _, k := range keys {
			delete(t.rows[i], k)
			if v, ok := t.def.defaults[k]; ok {
				t.rows[i][k], _ = r.normalizeValue(k, v)
			}
		}
	}
	return done()
}

func (r *Router) enable(t *table, cmd Command, on bool) sentences {
	idx, ok := t.targets(cmd)
	if !ok {
		return trap(msgNoSuchItem)
	}
	for _, i := range idx {
		t.rows[i]["disabled"] = strconv.FormatBool(!on)
	}
	return done()
}

func (r *Router) remove(t *table, cmd Command) sentences {
	idx, ok := t.targets(cmd)
	if !ok {
		return trap(msgNoSuchItem)
	}
	for _, i := range idx {
		if t.rows[i]["default"] == "true" {
			return trap("failure: can not remove default entry")
		}
	}
	slices.Sort(idx)
	for j := len(idx) - 1; j >= 0; j-- {
		t.rows = slices.Delete(t.rows, idx[j], idx[j]+1)
	}
	return done()
}
