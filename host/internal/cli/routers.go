package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
)

func newRouters(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "routers",
		Short: "Compare the routers with the store, and repair the drift",
		Long: `The routers commands talk to a running host (--address, default from the
configuration) with an API token (--token or MIKROBILL_TOKEN).`,
	}
	cmd.AddCommand(newRoutersSync(g))
	return cmd
}

func newRoutersSync(g *globals) *cobra.Command {
	var address, token, location string
	var repair, asJSON bool
	var allowRemovals int
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Report (or, with --repair, repair) how each router differs from the store",
		Long: `sync compares what the store says each router location should hold with what
the router holds, through the location's router plugin:

  missing      an active (or isolated) subscriber has no login on the router
  profile      the login has another profile than its plan's (or the isolation
               profile, for an isolated subscriber)
  disabled     the login of an active subscriber is disabled
  orphan       a login mikrobill created that no active or isolated subscription
               accounts for (an expired subscriber left behind, a deleted customer)
  not_managed  the subscriber's login name is taken by an entry mikrobill did not
               create; never changed, a person must look

Without --repair nothing changes (it needs an operator's token). With --repair
(an admin's token) missing and wrong logins are put right, the sessions of a
login whose profile changed are ended so the new profile applies, and orphans
are removed; the repair is recorded in the audit log. A location whose router
does not answer is reported and left for the next run.

A repair removes at most 5 orphans, and none at a location where the store
has no subscriber at all, unless --allow-removals N allows up to N: after a
switch to a fresh or wrong database every paying customer's login looks
orphaned, and a repair would cut them all off. A repair that would remove more
changes nothing: it prints its plan and says how many removals to allow.

Exit status: 0 when the routers match the store (after the repair), 2 when
differences remain or a router could not be compared, 1 on any other error
(a repair refused for its removals included).`,
		Example: `  mikrobill routers sync
  mikrobill routers sync --location branch-2 --repair
  mikrobill routers sync --repair --allow-removals 12
  mikrobill routers sync --json | jq '.locations[].drift[]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := hostAddress(g, cmd, address)
			if err != nil {
				return err
			}
			if allowRemovals < 0 {
				return fmt.Errorf("--allow-removals must be 0 or more, got %d", allowRemovals)
			}
			if allowRemovals > 0 && !repair {
				return errors.New("--allow-removals applies to a repair; add --repair")
			}
			method, path := http.MethodGet, "/api/v1/routers/drift"
			var body any
			if repair {
				method, path = http.MethodPost, "/api/v1/routers/sync"
				body = map[string]int{"allow_removals": allowRemovals}
			}
			if location != "" {
				path += "?location=" + url.QueryEscape(location)
			}
			var rep billing.SyncReport
			err = callHostWith(cmd.Context(), method, base+path, g.apiToken(token), body, &rep)
			var he *hostError
			if errors.As(err, &he) && he.code == "removals_not_allowed" && json.Unmarshal(he.details, &rep) == nil {
				// Refused: show the plan, then why.
				if perr := printSync(g, &rep, asJSON); perr != nil {
					return perr
				}
				return err
			}
			if err != nil {
				return err
			}
			if err := printSync(g, &rep, asJSON); err != nil {
				return err
			}
			if rep.Unreachable > 0 || rep.Drift > rep.Repaired {
				return &exitError{code: 2, msg: ""}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&location, "location", "", "compare only this location (by name); default every location")
	cmd.Flags().BoolVar(&repair, "repair", false, "make the routers match the store (needs an admin's token)")
	cmd.Flags().IntVar(&allowRemovals, "allow-removals", 0, "with --repair: remove up to this many orphaned logins (without it, at most 5, and none where the store has no subscriber)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&address, "address", "", "the running host's base URL (default: from the configuration, http://127.0.0.1:3000)")
	cmd.Flags().StringVar(&token, "token", "", "API token (mbt_...) of an operator, or an admin for --repair (default $MIKROBILL_TOKEN)")
	return cmd
}

// printSync prints a report as JSON or as tables.
func printSync(g *globals, rep *billing.SyncReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printSyncReport(g, rep)
	return nil
}

func printSyncReport(g *globals, rep *billing.SyncReport) {
	for _, l := range rep.Locations {
		switch {
		case !l.Compared:
			fmt.Fprintf(g.stdout, "%s (%s): not compared: %s\n", l.Location, l.Plugin, l.Error)
			continue
		case len(l.Drift) == 0:
			fmt.Fprintf(g.stdout, "%s (%s): in sync, %d subscriber(s)\n", l.Location, l.Plugin, l.Subscribers)
			continue
		}
		fmt.Fprintf(g.stdout, "%s (%s): %d difference(s), %d subscriber(s)\n", l.Location, l.Plugin, len(l.Drift), l.Subscribers)
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROBLEM\tKIND\tUSER\tCUSTOMER\tREPAIRED\tDETAIL")
		for _, d := range l.Drift {
			cust, fixed := "-", "no"
			if d.CustomerID != 0 {
				cust = fmt.Sprint(d.CustomerID)
			}
			switch {
			case d.Repaired:
				fixed = "yes"
			case d.RepairError != "":
				fixed = "failed: " + d.RepairError
			case !rep.Repair || rep.Refused != "":
				fixed = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", d.Problem, d.Kind, d.User, cust, fixed, d.Detail)
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(g.stdout, rep.DriftSummary())
}

// routerPluginsOf names the router plugins the manager knows, whose saved
// routers the host imports at start.
func routerPluginsOf(mgr *plugins.Manager) []string {
	var out []string
	for _, p := range mgr.Plugins() {
		if p.Kind() == sdk.KindRouter {
			out = append(out, p.Name())
		}
	}
	return out
}
