package main

import (
	"context"
	"fmt"
	"net"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// sessionFrom reads an active session as the router prints it. The user is
// "user" in /ip/hotspot/active and "name" in /ppp/active.
func sessionFrom(kind router.UserKind, row map[string]string) router.Session {
	s := router.Session{
		ID:      row[".id"],
		Kind:    kind,
		Address: row["address"],
	}
	s.Uptime, _ = parseDuration(row["uptime"])
	switch kind {
	case router.KindHotspot:
		s.User = row["user"]
		s.MACAddress = row["mac-address"]
		s.BytesIn = parseUint(row["bytes-in"])
		s.BytesOut = parseUint(row["bytes-out"])
		s.Server = row["server"]
	case router.KindPPP:
		s.User = row["name"]
		if s.User == "" {
			s.User = row["user"]
		}
		s.CallerID = row["caller-id"]
		if hw, err := net.ParseMAC(s.CallerID); err == nil && len(hw) == 6 {
			// PPPoE: the caller id is the client's MAC address.
			s.MACAddress = s.CallerID
		}
		s.Server = row["service"]
	}
	return s
}

// sessions lists the active sessions of one kind, of one user when user is
// set.
func (s *session) sessions(m menus, user string) ([]router.Session, error) {
	var args []string
	if user != "" && m.kind == router.KindHotspot {
		args = append(args, "?user="+user)
	}
	rows, err := s.run(m.active+"/print", args...)
	if err != nil {
		return nil, err
	}
	out := make([]router.Session, 0, len(rows))
	for _, r := range rows {
		ss := sessionFrom(m.kind, r)
		if user != "" && ss.User != user {
			continue
		}
		out = append(out, ss)
	}
	return out, nil
}

// kick ends sessions: the one with id, or all of user's. A session that
// ended meanwhile does not count. kicked counts the sessions ended, across
// runs of the operation.
func (s *session) kick(m menus, user, id string, kicked *int) error {
	all, err := s.sessions(m, user)
	if err != nil {
		return err
	}
	for _, ss := range all {
		if id != "" && ss.ID != id {
			continue
		}
		_, err := s.run(m.active+"/remove", "=.id="+ss.ID)
		switch {
		case isNoSuchItem(err):
		case err != nil:
			return err
		default:
			*kicked++
		}
	}
	return nil
}

// ListActiveSessions implements router.Router. An empty kind lists both.
func (p *Plugin) ListActiveSessions(ctx context.Context, req *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	ms, err := menusOrAll(req.Kind)
	if err != nil {
		return nil, err
	}
	var out []router.Session
	err = p.run(ctx, req.Location, func(s *session) error {
		out = []router.Session{}
		for _, m := range ms {
			ss, err := s.sessions(m, req.User)
			if err != nil {
				return err
			}
			out = append(out, ss...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list active sessions: %w", err)
	}
	return &router.ListActiveSessionsResponse{Sessions: out}, nil
}

// DisconnectSession implements router.Router: it removes the session with
// SessionID, or every session of User, from the kind's active menu. Ending
// a session that is not there is not an error: Disconnected is 0.
func (p *Plugin) DisconnectSession(ctx context.Context, req *router.DisconnectSessionRequest) (*router.DisconnectSessionResponse, error) {
	m, err := menusFor(req.Kind)
	if err != nil {
		return nil, err
	}
	switch {
	case req.SessionID == "" && req.User == "":
		return nil, fmt.Errorf("%w: name a session id or a user", sdk.ErrInvalidArgument)
	case req.SessionID != "" && req.User != "":
		return nil, fmt.Errorf("%w: name a session id or a user, not both", sdk.ErrInvalidArgument)
	case req.User != "":
		if err := checkName("user", req.User); err != nil {
			return nil, err
		}
	default:
		if err := checkName("session id", req.SessionID); err != nil {
			return nil, err
		}
	}
	kicked := 0
	err = p.run(ctx, req.Location, func(s *session) error {
		return s.kick(m, req.User, req.SessionID, &kicked)
	})
	if err != nil {
		return nil, fmt.Errorf("disconnect %s sessions: %w", m.kind, err)
	}
	return &router.DisconnectSessionResponse{Disconnected: kicked}, nil
}
