package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
)

// The commands in this file talk to a running host over its HTTP API.

const apiTimeout = 2 * time.Minute

// hostAddress is the running host's base URL: --address, or the address
// the configuration says the host listens on (0.0.0.0 and :: mean this
// machine).
func hostAddress(g *globals, cmd *cobra.Command, address string) (string, error) {
	if address != "" {
		return strings.TrimRight(address, "/"), nil
	}
	cfg, err := g.load(cmd, config.Overrides{})
	if err != nil {
		return "", err
	}
	host := cfg.Server.Host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Server.Port)), nil
}

// apiToken is --token, or MIKROBILL_TOKEN.
func (g *globals) apiToken(flag string) string {
	if flag != "" {
		return flag
	}
	for _, kv := range g.environ {
		if v, ok := strings.CutPrefix(kv, "MIKROBILL_TOKEN="); ok {
			return v
		}
	}
	return ""
}

// hostError is an error answer of the host's API: its message for the
// person, with the code and details for a command that acts on them.
type hostError struct {
	exitError
	code    string
	details json.RawMessage
}

// callHost sends a request to the running host, with token as its bearer
// credential when set, and decodes the JSON answer into out; an API error
// becomes a *hostError with its message.
func callHost(ctx context.Context, method, url, token string, out any) error {
	return callHostWith(ctx, method, url, token, nil, out)
}

// callHostWith is callHost with a JSON body (in; nil sends none).
func callHostWith(ctx context.Context, method, url, token string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var reqBody io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reqBody)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the host at %s (%v); is `mikrobill serve` running? Use --address to point at it", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code    string          `json:"code"`
				Message string          `json:"message"`
				Details json.RawMessage `json:"details"`
			} `json:"error"`
		}
		if resp.StatusCode == http.StatusUnauthorized {
			how := "pass an API token with --token or MIKROBILL_TOKEN"
			if token != "" {
				how = "the token was refused (revoked, expired, or for another host's database); make a new one"
			}
			return &exitError{code: 1, msg: fmt.Sprintf("the host wants an API token (HTTP 401): %s; `mikrobill user token --username NAME` makes one", how)}
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return &hostError{exitError: exitError{code: 1, msg: fmt.Sprintf("%s (HTTP %d, %s)", e.Error.Message, resp.StatusCode, e.Error.Code)},
				code: e.Error.Code, details: e.Error.Details}
		}
		return &exitError{code: 1, msg: fmt.Sprintf("HTTP %d from %s: %s", resp.StatusCode, url, strings.TrimSpace(string(body)))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("unexpected answer from %s: %v", url, err)
	}
	return nil
}

func newPluginStatus(g *globals) *cobra.Command {
	var address, token string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running host's plugins: state, health, restarts, pid, circuit, last error; and every host's",
		Long: `status shows the plugins of the running host (--address): state, health,
restarts, pid, circuit and errors, from /health/plugins.

With an API token (--token or MIKROBILL_TOKEN; any role) it also shows every
host sharing the host's database (GET /api/v1/hosts): alive, gone or stopped,
which one leads the job queue (and so runs the periodic jobs), its version,
when it started and was last heard from, which host runs each singleton
plugin (a manifest's "singleton": true: one host at a time, chosen through
the database), and the state of each plugin on each host.

A singleton plugin that another host runs shows as "elsewhere (HOST)" here:
it is not a failure, and calls for it go to that host (its jobs through the
job queue). An optional plugin that waits for its settings (a payment
gateway just installed) shows as "not configured": save its settings (admin
UI, or PUT /api/v1/plugin-settings/NAME) and it starts. --json prints it as
the API does: "disabled" with "not_configured": true.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := hostAddress(g, cmd, address)
			if err != nil {
				return err
			}
			var body struct {
				Plugins []plugins.Status `json:"plugins"`
			}
			if err := callHost(cmd.Context(), http.MethodGet, base+"/health/plugins", "", &body); err != nil {
				return err
			}
			var all *hostsView
			if tok := g.apiToken(token); tok != "" {
				all = new(hostsView)
				if err := callHost(cmd.Context(), http.MethodGet, base+"/api/v1/hosts", tok, all); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Plugins []plugins.Status `json:"plugins"`
					Hosts   *hostsView       `json:"hosts,omitempty"`
				}{body.Plugins, all})
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tHEALTH\tRESTARTS\tPID\tCIRCUIT\tNEXT ATTEMPT\tERROR\tLAST ERROR")
			for _, p := range body.Plugins {
				next := "-"
				if p.NextAttempt != nil {
					next = p.NextAttempt.Local().Format("15:04:05")
				}
				pid := "-"
				if p.PID != 0 {
					pid = strconv.Itoa(p.PID)
				}
				// ERROR is what is wrong now; LAST ERROR the latest one,
				// kept after the plugin recovered, with its time.
				last := firstLine(p.LastError)
				if last != "" && p.LastErrorAt != nil {
					last = p.LastErrorAt.Local().Format(time.DateTime) + " " + last
				}
				state := string(p.State)
				switch {
				case p.State == plugins.StateElsewhere:
					state += " (" + dash(p.RunsOn) + ")"
				case p.NotConfigured:
					state = notConfigured
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, dash(p.Version), state, p.Health, p.Restarts, pid, p.Circuit, next,
					dash(firstLine(p.Error)), dash(last))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if all == nil {
				fmt.Fprintln(g.stderr, "(every host's view: pass an API token with --token or MIKROBILL_TOKEN)")
				return nil
			}
			return printHosts(g.stdout, all)
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "the running host's base URL (default: from the configuration, http://127.0.0.1:3000)")
	cmd.Flags().StringVar(&token, "token", "", "API token (mbt_...) to show every host's view too (default $MIKROBILL_TOKEN)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// hostsView is GET /api/v1/hosts.
type hostsView struct {
	Hosts []struct {
		ID          string    `json:"id"`
		Address     string    `json:"address"`
		Version     string    `json:"version"`
		StartedAt   time.Time `json:"started_at"`
		HeartbeatAt time.Time `json:"heartbeat_at"`
		State       string    `json:"state"`
		Leader      bool      `json:"leader"`
		Self        bool      `json:"self"`
		Plugins     []struct {
			Name          string `json:"name"`
			State         string `json:"state"`
			NotConfigured bool   `json:"not_configured"`
		} `json:"plugins"`
	} `json:"hosts"`
	Leader           string  `json:"leader"`
	GoneAfterSeconds float64 `json:"gone_after_seconds"`
	Singletons       []struct {
		Plugin     string    `json:"plugin"`
		HostID     string    `json:"host_id"`
		AcquiredAt time.Time `json:"acquired_at"`
		Live       bool      `json:"live"`
	} `json:"singletons"`
}

// printHosts prints every host, then each plugin's state on each host.
func printHosts(w io.Writer, v *hostsView) error {
	fmt.Fprintf(w, "\nHosts sharing the database (the leader runs the periodic jobs; a host unheard for %gs is gone):\n", v.GoneAfterSeconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tLEADER\tVERSION\tADDRESS\tSTARTED\tLAST HEARTBEAT")
	names := map[string]bool{}
	for _, h := range v.Hosts {
		id, leader := h.ID, "-"
		if h.Self {
			id += " (this one)"
		}
		if h.Leader {
			leader = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, h.State, leader, dash(h.Version), dash(h.Address),
			h.StartedAt.Local().Format(time.DateTime), h.HeartbeatAt.Local().Format(time.DateTime))
		for _, p := range h.Plugins {
			names[p.Name] = true
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Singletons) > 0 {
		fmt.Fprintln(w, "\nSingleton plugins (each runs on one host at a time):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PLUGIN\tRUNS ON\tSINCE")
		for _, l := range v.Singletons {
			on, since := l.HostID, l.AcquiredAt.Local().Format(time.DateTime)
			if !l.Live {
				on, since = "none (its host "+l.HostID+" is gone; a live host takes it at its next heartbeat)", "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Plugin, on, since)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(names) == 0 {
		return nil
	}
	self := ""
	for _, h := range v.Hosts {
		if h.Self {
			self = h.ID
		}
	}
	switch {
	case len(v.Hosts) == 1 && self != "":
		fmt.Fprintln(w, "\nPlugins (as they are now):")
	case self != "":
		fmt.Fprintf(w, "\nPlugins on each host (on %s, which answered, as they are now; on the others as of their last heartbeat):\n", self)
	default:
		fmt.Fprintln(w, "\nPlugins on each host (as of each host's last heartbeat):")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "PLUGIN")
	for _, h := range v.Hosts {
		fmt.Fprint(tw, "\t"+h.ID)
	}
	fmt.Fprintln(tw)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		fmt.Fprint(tw, name)
		for _, h := range v.Hosts {
			state := "-"
			for _, p := range h.Plugins {
				if p.Name == name {
					state = p.State
					if p.NotConfigured {
						state = notConfigured
					}
				}
			}
			fmt.Fprint(tw, "\t"+state)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// notConfigured is the state `plugin status` prints for an optional
// plugin that waits for its settings (the API's disabled, with
// not_configured): not something an operator switched off.
const notConfigured = "not configured"

// firstLine is s up to its first line break, with " ..." when more follows.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// newPluginAction is restart, disable or enable.
func newPluginAction(g *globals, action, short, long string) *cobra.Command {
	var address, token string
	var persist bool
	cmd := &cobra.Command{
		Use:   action + " NAME",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := hostAddress(g, cmd, address)
			if err != nil {
				return err
			}
			var body struct {
				Plugin plugins.Status `json:"plugin"`
			}
			path := base + "/api/v1/plugins/" + url.PathEscape(args[0]) + "/" + action
			if persist {
				path += "?persist=true"
			}
			if err := callHost(cmd.Context(), http.MethodPost, path, g.apiToken(token), &body); err != nil {
				return err
			}
			p := body.Plugin
			fmt.Fprintf(g.stdout, "%s: %s", p.Name, p.State)
			if p.PID != 0 {
				fmt.Fprintf(g.stdout, " (pid %d, restarts %d)", p.PID, p.Restarts)
			}
			if persist {
				fmt.Fprint(g.stdout, "; it stays disabled after restarts until `mikrobill plugin enable "+p.Name+"`")
			}
			fmt.Fprintln(g.stdout)
			return nil
		},
	}
	if action == "disable" {
		cmd.Flags().BoolVar(&persist, "persist", false, "keep the plugin disabled after the host restarts (recorded in the database) until it is enabled")
	}
	cmd.Flags().StringVar(&address, "address", "", "the running host's base URL (default: from the configuration, http://127.0.0.1:3000)")
	cmd.Flags().StringVar(&token, "token", "", "API token (mbt_...) of a user allowed to do this (default $MIKROBILL_TOKEN)")
	return cmd
}
