package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// userAttrs are the attributes the plugin manages on a user.
//
// Hotspot (/ip/hotspot/user): password, profile, limit-uptime,
// limit-bytes-total, mac-address, server ("all" when empty), comment,
// disabled. PPP (/ppp/secret): password, profile, service ("any" when
// empty), remote-address, comment, disabled. Fields of the other kind are
// ignored: the host sends a plan's limits whatever its kind.
func userAttrs(u router.User) []attr {
	profile := u.Profile
	if profile == "" {
		profile = "default"
	}
	comment := markComment(u.Comment)
	as := []attr{
		{key: "password", value: u.Password, same: present(u.Password), secret: true},
		{key: "profile", value: profile, same: withDefault(profile, "default", "")},
	}
	switch u.Kind {
	case router.KindHotspot:
		mac := strings.ToUpper(u.MACAddress)
		if mac == "" {
			mac = "00:00:00:00:00:00"
		}
		server := u.Server
		if server == "" {
			server = "all"
		}
		bytes := strconv.FormatUint(u.LimitBytesTotal, 10)
		as = append(as,
			attr{key: "limit-uptime", value: fmtDuration(u.LimitUptime), same: sameDuration(u.LimitUptime)},
			attr{key: "limit-bytes-total", value: bytes, same: sameUint(u.LimitBytesTotal)},
			attr{key: "mac-address", value: mac, same: sameMAC(mac)},
			attr{key: "server", value: server, same: withDefault(server, "all", "")},
		)
	case router.KindPPP:
		service := u.Service
		if service == "" {
			service = "any"
		}
		as = append(as,
			attr{key: "service", value: service, same: withDefault(service, "any", "")},
			attr{key: "remote-address", value: u.RemoteAddress, same: withDefault(u.RemoteAddress, "", "0.0.0.0")},
		)
	}
	return append(as,
		attr{key: "comment", value: comment, same: exact(comment)},
		attr{key: "disabled", value: yesNo(u.Disabled), same: sameBool(u.Disabled)},
	)
}

// userFrom reads a user as the router prints it, without its password.
func userFrom(kind router.UserKind, row map[string]string) router.User {
	u := router.User{
		Kind:     kind,
		Name:     row["name"],
		Profile:  row["profile"],
		Comment:  callerComment(row["comment"]),
		Disabled: parseBool(row["disabled"]),
		Managed:  managed(row["comment"]),
	}
	switch kind {
	case router.KindHotspot:
		u.LimitUptime, _ = parseDuration(row["limit-uptime"])
		u.LimitBytesTotal = parseUint(row["limit-bytes-total"])
		if mac := row["mac-address"]; mac != "00:00:00:00:00:00" {
			u.MACAddress = mac
		}
		u.Server = row["server"]
	case router.KindPPP:
		u.Service = row["service"]
		if ra := row["remote-address"]; ra != "0.0.0.0" {
			u.RemoteAddress = ra
		}
	}
	return u
}

func checkUser(u router.User) error {
	if err := checkName("user name", u.Name); err != nil {
		return err
	}
	var problems []string
	if u.Profile != "" {
		if err := checkName("profile", u.Profile); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), sdk.ErrInvalidArgument.Error()+": "))
		}
	}
	if u.LimitUptime < 0 {
		problems = append(problems, "limit uptime must not be negative")
	}
	if u.Kind == router.KindHotspot && u.MACAddress != "" {
		if hw, err := net.ParseMAC(u.MACAddress); err != nil || len(hw) != 6 {
			problems = append(problems, fmt.Sprintf("MAC address %q is not like 00:11:22:AA:BB:CC", u.MACAddress))
		}
	}
	if u.Kind == router.KindPPP && u.RemoteAddress != "" && net.ParseIP(u.RemoteAddress) == nil {
		problems = append(problems, fmt.Sprintf("remote address %q is not an IP address", u.RemoteAddress))
	}
	for _, f := range []struct{ name, v string }{
		{"password", u.Password}, {"comment", u.Comment}, {"service", u.Service}, {"server", u.Server},
	} {
		if err := checkValue(f.name, f.v); err != nil {
			problems = append(problems, f.name+" contains a control character")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: user %q: %s", sdk.ErrInvalidArgument, u.Name, strings.Join(problems, "; "))
	}
	return nil
}

// UpsertUser implements router.Router.
func (p *Plugin) UpsertUser(ctx context.Context, req *router.UpsertUserRequest) (*router.UpsertUserResponse, error) {
	m, err := menusFor(req.User.Kind)
	if err != nil {
		return nil, err
	}
	if err := checkUser(req.User); err != nil {
		return nil, err
	}
	attrs := userAttrs(req.User)
	var wrote, created bool
	var row map[string]string
	err = p.run(ctx, req.Location, func(s *session) (err error) {
		row, err = s.ensure(m.user, req.User.Name, attrs, &wrote, &created)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("upsert %s user %q: %w", m.kind, req.User.Name, err)
	}
	return &router.UpsertUserResponse{User: userFrom(m.kind, row), Changed: wrote, Created: created}, nil
}

func checkRef(ref router.UserRef) (menus, error) {
	m, err := menusFor(ref.Kind)
	if err != nil {
		return m, err
	}
	return m, checkName("user name", ref.Name)
}

// GetUser implements router.Router.
func (p *Plugin) GetUser(ctx context.Context, req *router.GetUserRequest) (*router.GetUserResponse, error) {
	ref := req.User
	m, err := checkRef(ref)
	if err != nil {
		return nil, err
	}
	var row map[string]string
	err = p.run(ctx, ref.Location, func(s *session) (err error) {
		row, err = s.find(m.user, ref.Name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %s user %q: %w", m.kind, ref.Name, err)
	}
	if row == nil {
		return nil, userNotFound(ref, m)
	}
	return &router.GetUserResponse{User: userFrom(m.kind, row)}, nil
}

func userNotFound(ref router.UserRef, m menus) error {
	return fmt.Errorf("%w: no %s user %q on router %q (%s)", sdk.ErrNotFound, m.kind, ref.Name, ref.Location, m.user)
}

// ListUsers implements router.Router. An empty kind lists both.
func (p *Plugin) ListUsers(ctx context.Context, req *router.ListUsersRequest) (*router.ListUsersResponse, error) {
	ms, err := menusOrAll(req.Kind)
	if err != nil {
		return nil, err
	}
	var out []router.User
	err = p.run(ctx, req.Location, func(s *session) error {
		out = []router.User{}
		for _, m := range ms {
			rows, err := s.run(m.user + "/print")
			if err != nil {
				return err
			}
			for _, r := range rows {
				if req.ManagedOnly && !managed(r["comment"]) {
					continue
				}
				out = append(out, userFrom(m.kind, r))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return &router.ListUsersResponse{Users: out}, nil
}

// managedUser finds a user the plugin manages: sdk.ErrNotFound when it does
// not exist (unless missingOK, then nil), router.ErrNotManaged when it is
// not the plugin's.
func (s *session) managedUser(m menus, ref router.UserRef, missingOK bool) (map[string]string, error) {
	row, err := s.find(m.user, ref.Name)
	switch {
	case err != nil:
		return nil, err
	case row == nil && missingOK:
		return nil, nil
	case row == nil:
		return nil, userNotFound(ref, m)
	case !managed(row["comment"]):
		return nil, notManaged(s.l.cfg.ID, m.user, ref.Name, row["comment"])
	}
	return row, nil
}

// setDisabled enables or disables a user the plugin manages.
func (p *Plugin) setDisabled(ctx context.Context, ref router.UserRef, disabled, disconnect bool) (changed bool, kicked int, err error) {
	m, err := checkRef(ref)
	if err != nil {
		return false, 0, err
	}
	err = p.run(ctx, ref.Location, func(s *session) error {
		row, err := s.managedUser(m, ref, false)
		if err != nil {
			return err
		}
		if parseBool(row["disabled"]) != disabled {
			changed = true
			cmd := "/enable"
			if disabled {
				cmd = "/disable"
			}
			if _, err := s.run(m.user+cmd, "=.id="+row[".id"]); err != nil {
				return err
			}
		}
		if disconnect {
			return s.kick(m, ref.Name, "", &kicked)
		}
		return nil
	})
	return changed, kicked, err
}

// EnableUser implements router.Router.
func (p *Plugin) EnableUser(ctx context.Context, req *router.EnableUserRequest) (*router.EnableUserResponse, error) {
	changed, _, err := p.setDisabled(ctx, req.User, false, false)
	if err != nil {
		return nil, fmt.Errorf("enable %s user %q: %w", req.User.Kind, req.User.Name, err)
	}
	return &router.EnableUserResponse{Changed: changed}, nil
}

// DisableUser implements router.Router. With Disconnect it ends the user's
// sessions after disabling, so they cannot log in again in between.
func (p *Plugin) DisableUser(ctx context.Context, req *router.DisableUserRequest) (*router.DisableUserResponse, error) {
	changed, kicked, err := p.setDisabled(ctx, req.User, true, req.Disconnect)
	if err != nil {
		return nil, fmt.Errorf("disable %s user %q: %w", req.User.Kind, req.User.Name, err)
	}
	return &router.DisableUserResponse{Changed: changed, Disconnected: kicked}, nil
}

// RemoveUser implements router.Router. With Disconnect it ends the user's
// sessions after removing, also when the user was already gone (a retry of
// a removal whose disconnect failed).
func (p *Plugin) RemoveUser(ctx context.Context, req *router.RemoveUserRequest) (*router.RemoveUserResponse, error) {
	ref := req.User
	m, err := checkRef(ref)
	if err != nil {
		return nil, err
	}
	removed, kicked := false, 0
	err = p.run(ctx, ref.Location, func(s *session) error {
		row, err := s.managedUser(m, ref, true)
		if err != nil {
			return err
		}
		if row != nil {
			removed = true
			if _, err := s.run(m.user+"/remove", "=.id="+row[".id"]); err != nil && !isNoSuchItem(err) {
				return err
			}
		}
		if req.Disconnect {
			return s.kick(m, ref.Name, "", &kicked)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove %s user %q: %w", m.kind, ref.Name, err)
	}
	return &router.RemoveUserResponse{Removed: removed, Disconnected: kicked}, nil
}

// IsolateUser implements router.Router. The isolation profile must exist
// (the plugin need not manage it).
func (p *Plugin) IsolateUser(ctx context.Context, req *router.IsolateUserRequest) (*router.IsolateUserResponse, error) {
	ref := req.User
	m, err := checkRef(ref)
	if err != nil {
		return nil, err
	}
	if err := checkName("isolation profile", req.IsolationProfile); err != nil {
		return nil, err
	}
	changed, kicked := false, 0
	err = p.run(ctx, ref.Location, func(s *session) error {
		row, err := s.managedUser(m, ref, false)
		if err != nil {
			return err
		}
		if row["profile"] != req.IsolationProfile {
			prof, err := s.find(m.profile, req.IsolationProfile)
			if err != nil {
				return err
			}
			if prof == nil {
				return fmt.Errorf("%w: isolation profile %q does not exist on router %q (%s); create it (EnsureProfile, or on the router) before isolating users",
					sdk.ErrFailedPrecondition, req.IsolationProfile, s.l.cfg.ID, m.profile)
			}
			changed = true
			if _, err := s.run(m.user+"/set", "=.id="+row[".id"], "=profile="+req.IsolationProfile); err != nil {
				return err
			}
		}
		if req.Disconnect {
			return s.kick(m, ref.Name, "", &kicked)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("isolate %s user %q: %w", m.kind, ref.Name, err)
	}
	return &router.IsolateUserResponse{Changed: changed, Disconnected: kicked}, nil
}
