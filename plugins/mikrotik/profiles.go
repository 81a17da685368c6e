package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// profileAttrs are the attributes the plugin manages on a profile.
//
// Hotspot (/ip/hotspot/user/profile): rate-limit, shared-users (0 is
// RouterOS's default, 1), session-timeout, idle-timeout ("none" when 0),
// address-pool (RemoteAddress; "none" when empty), address-list, comment.
//
// PPP (/ppp/profile): rate-limit, local-address, remote-address,
// address-list, session-timeout, idle-timeout, only-one (from SharedUsers:
// 0 leaves RouterOS's default, 1 is yes, more is no), comment.
func profileAttrs(p router.Profile) []attr {
	as := []attr{
		{key: "rate-limit", value: p.RateLimit, same: exact(p.RateLimit)},
		{key: "session-timeout", value: fmtDuration(p.SessionTimeout), same: sameDuration(p.SessionTimeout)},
	}
	switch p.Kind {
	case router.KindHotspot:
		shared := "1"
		if p.SharedUsers > 0 {
			shared = strconv.Itoa(p.SharedUsers)
		}
		idle := "none"
		if p.IdleTimeout > 0 {
			idle = fmtDuration(p.IdleTimeout)
		}
		pool := p.RemoteAddress
		if pool == "" {
			pool = "none"
		}
		as = append(as,
			attr{key: "shared-users", value: shared, same: withDefault(shared, "1", "")},
			attr{key: "idle-timeout", value: idle, same: sameDuration(p.IdleTimeout)},
			attr{key: "address-pool", value: pool, same: withDefault(pool, "none", "")},
		)
	case router.KindPPP:
		as = append(as,
			attr{key: "local-address", value: p.LocalAddress, same: exact(p.LocalAddress)},
			attr{key: "remote-address", value: p.RemoteAddress, same: exact(p.RemoteAddress)},
			attr{key: "idle-timeout", value: fmtDuration(p.IdleTimeout), same: sameDuration(p.IdleTimeout)},
			attr{key: "only-one", value: onlyOne(p.SharedUsers), same: sameOnlyOne(onlyOne(p.SharedUsers))},
		)
	}
	comment := markComment(p.Comment)
	return append(as,
		attr{key: "address-list", value: p.AddressList, same: exact(p.AddressList)},
		attr{key: "comment", value: comment, same: exact(comment)},
	)
}

// onlyOne maps SharedUsers onto a PPP profile's only-one.
func onlyOne(shared int) string {
	switch {
	case shared == 1:
		return "yes"
	case shared > 1:
		return "no"
	}
	return "default"
}

func canonOnlyOne(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true":
		return "yes"
	case "no", "false":
		return "no"
	}
	return "default"
}

func sameOnlyOne(want string) func(string, bool) bool {
	return func(have string, _ bool) bool { return canonOnlyOne(have) == canonOnlyOne(want) }
}

// profileFrom reads a profile as the router prints it.
func profileFrom(kind router.UserKind, row map[string]string) router.Profile {
	p := router.Profile{
		Kind:        kind,
		Name:        row["name"],
		RateLimit:   row["rate-limit"],
		AddressList: row["address-list"],
		Comment:     callerComment(row["comment"]),
		Managed:     managed(row["comment"]),
	}
	p.SessionTimeout, _ = parseDuration(row["session-timeout"])
	p.IdleTimeout, _ = parseDuration(row["idle-timeout"])
	switch kind {
	case router.KindHotspot:
		p.SharedUsers, _ = strconv.Atoi(row["shared-users"])
		if pool := row["address-pool"]; pool != "none" {
			p.RemoteAddress = pool
		}
	case router.KindPPP:
		p.LocalAddress = row["local-address"]
		p.RemoteAddress = row["remote-address"]
		if canonOnlyOne(row["only-one"]) == "yes" {
			p.SharedUsers = 1
		}
	}
	return p
}

func checkProfile(p router.Profile) error {
	if err := checkName("profile name", p.Name); err != nil {
		return err
	}
	if err := router.ValidateRateLimit(p.RateLimit); err != nil {
		return err
	}
	var problems []string
	if p.SharedUsers < 0 {
		problems = append(problems, fmt.Sprintf("shared users must not be negative, got %d", p.SharedUsers))
	}
	if p.SessionTimeout < 0 || p.IdleTimeout < 0 {
		problems = append(problems, "session and idle timeouts must not be negative")
	}
	for _, f := range []struct{ name, v string }{
		{"local address", p.LocalAddress}, {"remote address", p.RemoteAddress},
		{"address list", p.AddressList}, {"comment", p.Comment},
	} {
		if err := checkValue(f.name, f.v); err != nil {
			problems = append(problems, f.name+" contains a control character")
		}
	}
	if p.Kind == router.KindHotspot && p.LocalAddress != "" {
		problems = append(problems, "local address applies to PPP profiles only")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: profile %q: %s", sdk.ErrInvalidArgument, p.Name, strings.Join(problems, "; "))
	}
	return nil
}

// EnsureProfile implements router.Router.
func (p *Plugin) EnsureProfile(ctx context.Context, req *router.EnsureProfileRequest) (*router.EnsureProfileResponse, error) {
	m, err := menusFor(req.Profile.Kind)
	if err != nil {
		return nil, err
	}
	if err := checkProfile(req.Profile); err != nil {
		return nil, err
	}
	attrs := profileAttrs(req.Profile)
	var wrote, created bool
	var row map[string]string
	err = p.run(ctx, req.Location, func(s *session) (err error) {
		row, err = s.ensure(m.profile, req.Profile.Name, attrs, &wrote, &created)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure %s profile %q: %w", m.kind, req.Profile.Name, err)
	}
	return &router.EnsureProfileResponse{Profile: profileFrom(m.kind, row), Changed: wrote}, nil
}

// ListProfiles implements router.Router. An empty kind lists both.
func (p *Plugin) ListProfiles(ctx context.Context, req *router.ListProfilesRequest) (*router.ListProfilesResponse, error) {
	ms, err := menusOrAll(req.Kind)
	if err != nil {
		return nil, err
	}
	var out []router.Profile
	err = p.run(ctx, req.Location, func(s *session) error {
		out = []router.Profile{}
		for _, m := range ms {
			rows, err := s.run(m.profile + "/print")
			if err != nil {
				return err
			}
			for _, r := range rows {
				out = append(out, profileFrom(m.kind, r))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	return &router.ListProfilesResponse{Profiles: out}, nil
}

// RemoveProfile implements router.Router.
func (p *Plugin) RemoveProfile(ctx context.Context, req *router.RemoveProfileRequest) (*router.RemoveProfileResponse, error) {
	m, err := menusFor(req.Kind)
	if err != nil {
		return nil, err
	}
	if err := checkName("profile name", req.Name); err != nil {
		return nil, err
	}
	removed := false
	err = p.run(ctx, req.Location, func(s *session) error {
		row, err := s.find(m.profile, req.Name)
		if err != nil || row == nil {
			return err
		}
		if !managed(row["comment"]) {
			return notManaged(s.l.cfg.ID, m.profile, req.Name, row["comment"])
		}
		removed = true
		_, err = s.run(m.profile+"/remove", "=.id="+row[".id"])
		if isNoSuchItem(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("remove %s profile %q: %w", m.kind, req.Name, err)
	}
	return &router.RemoveProfileResponse{Removed: removed}, nil
}
