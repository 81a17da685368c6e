package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/marketplace"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/version"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// compatibility says whether this host runs a listed plugin: "yes", or
// what stands in the way (min_host_version, protocol versions), as the
// host's own check of an installed manifest says it.
func compatibility(l pluginstall.Listing) string {
	m := &manifest.Manifest{Name: l.Name, MinHostVersion: l.MinHostVersion, ProtocolVersions: l.ProtocolVersions}
	var msgs []string
	for _, p := range m.CheckHost(version.Version, client.ProtocolVersions) {
		msgs = append(msgs, p.Message)
	}
	if len(msgs) == 0 {
		return "yes"
	}
	return "no: " + strings.Join(msgs, "; ")
}

// marketListings loads the configuration and lists every plugin version
// of every trusted marketplace (all platforms), warning on stderr about
// marketplaces that fail and targets refused; it fails only when every
// marketplace fails.
func marketListings(cmd *cobra.Command, g *globals) (*config.Config, []pluginstall.Listing, error) {
	cfg, err := g.load(cmd, config.Overrides{})
	if err != nil {
		return nil, nil, err
	}
	cs, err := marketplace.Clients(cfg, marketplace.Options{})
	if err != nil {
		if len(cs) == 0 {
			return nil, nil, err
		}
		fmt.Fprintln(g.stderr, "warning:", err)
	}
	if len(cs) == 0 {
		return nil, nil, errors.New("no trusted marketplaces; add one with `mikrobill marketplace add NAME URL --root root.json` (make marketplace-demo makes a local one)")
	}
	var all []pluginstall.Listing
	var errs []error
	for _, c := range cs {
		ls, problems, err := c.Listings(cmd.Context())
		if err != nil {
			fmt.Fprintln(g.stderr, "warning:", err)
			errs = append(errs, err)
			continue
		}
		for _, p := range problems {
			fmt.Fprintf(g.stderr, "warning: marketplace %s: %s: %s\n", c.Name(), p.Target, p.Reason)
		}
		all = append(all, ls...)
	}
	if len(errs) == len(cs) {
		return nil, nil, errors.Join(errs...)
	}
	return cfg, all, nil
}

// pickSource is the trusted marketplace that offers name: from, or the
// only one that has it.
func pickSource(cmd *cobra.Command, g *globals, cfg *config.Config, name, from string) (pluginstall.Source, error) {
	cs, err := marketplace.Clients(cfg, marketplace.Options{})
	if err != nil {
		fmt.Fprintln(g.stderr, "warning:", err)
	}
	var offering []pluginstall.Source
	var names []string
	for _, c := range cs {
		names = append(names, c.Name())
		if from != "" {
			if c.Name() == from {
				return c, nil
			}
			continue
		}
		ls, err := c.Search(cmd.Context(), "")
		if err != nil {
			fmt.Fprintln(g.stderr, "warning:", err)
			continue
		}
		if slices.ContainsFunc(ls, func(l pluginstall.Listing) bool { return l.Name == name }) {
			offering = append(offering, c)
		}
	}
	switch {
	case from != "":
		return nil, fmt.Errorf("%w: %q (trusted: %s)", marketplace.ErrNotTrusted, from, strings.Join(names, ", "))
	case len(offering) == 1:
		return offering[0], nil
	case len(offering) > 1:
		var ns []string
		for _, o := range offering {
			ns = append(ns, o.Name())
		}
		return nil, fmt.Errorf("%s is offered by several marketplaces (%s): choose one with --from", name, strings.Join(ns, ", "))
	}
	return nil, fmt.Errorf("no trusted marketplace offers %s for this platform (`mikrobill plugin search` lists what they offer)", name)
}

func newPluginSearch(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "search [TEXT]",
		Short: "Search the trusted marketplaces for plugins",
		Long: `search refreshes every trusted marketplace's signed metadata (TUF: signatures,
versions and expiry are checked) and lists the plugins whose name or
description contains TEXT (any case; all without TEXT) that are built for
this platform: the newest version of each (every version with --all), its
kind, marketplace, publisher, whether this host can run it (min_host_version
and the plugin protocol versions) and its description.

A marketplace that cannot be refreshed, and targets that fail their checks,
are reported on standard error; the others are still listed.
` + "`mikrobill plugin info NAME`" + ` shows one plugin's versions and platforms.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, listed, err := marketListings(cmd, g)
			if err != nil {
				return err
			}
			text := ""
			if len(args) == 1 {
				text = strings.ToLower(args[0])
			}
			type row struct {
				pluginstall.Listing
				Compatible string `json:"compatible"`
			}
			var rows []row
			seen := map[string]bool{}
			for _, l := range listed {
				if l.OS != runtime.GOOS || l.Arch != runtime.GOARCH {
					continue
				}
				if text != "" && !strings.Contains(strings.ToLower(l.Name), text) && !strings.Contains(strings.ToLower(l.Description), text) {
					continue
				}
				key := l.Source + "/" + l.Name
				if seen[key] && !all {
					continue // listings are newest first
				}
				seen[key] = true
				rows = append(rows, row{l, compatibility(l)})
			}
			if asJSON {
				if rows == nil {
					rows = []row{}
				}
				return writeJSON(g.stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintf(g.stdout, "no plugin for %s/%s matches %q\n", runtime.GOOS, runtime.GOARCH, text)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tMARKETPLACE\tPUBLISHER\tRUNS HERE\tDESCRIPTION")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Version, r.Kind, r.Source, r.Publisher, short(r.Compatible), r.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "list every version, not only the newest")
	return cmd
}

// short is a compatibility verdict cut for a table: "yes" or "no (see
// plugin info)".
func short(c string) string {
	if c == "yes" {
		return c
	}
	return "no (see plugin info)"
}

func newPluginInfo(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Show a plugin's versions in the trusted marketplaces and whether this host runs them",
		Long: `info refreshes every trusted marketplace and shows plugin NAME as each offers
it: publisher, kind, description and the manifest's summary, then every
version with its platforms (os/arch), min_host_version, protocol versions
and whether this host (its version and plugin protocol versions, its
platform) can run it. The version installed in the plugin directory, if
any, is shown too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfg, listed, err := marketListings(cmd, g)
			if err != nil {
				return err
			}
			var mine []pluginstall.Listing
			for _, l := range listed {
				if l.Name == name {
					mine = append(mine, l)
				}
			}
			installed := ""
			if found, err := plugins.Discover(cfg.Plugins.Dir); err == nil {
				for _, f := range found {
					if f.Name == name && f.Manifest != nil {
						installed = f.Manifest.Version
					}
				}
			}
			if len(mine) == 0 {
				return fmt.Errorf("no trusted marketplace offers %s (`mikrobill plugin search` lists what they offer)", name)
			}
			if asJSON {
				type row struct {
					pluginstall.Listing
					Compatible string `json:"compatible"`
				}
				rows := make([]row, len(mine))
				for i, l := range mine {
					rows[i] = row{l, platformCompat(l)}
				}
				return writeJSON(g.stdout, map[string]any{"name": name, "installed": installed, "versions": rows})
			}
			return printInfo(g.stdout, name, installed, mine)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// platformCompat is compatibility, and whether the listing is for this
// platform.
func platformCompat(l pluginstall.Listing) string {
	c := compatibility(l)
	if l.OS != runtime.GOOS || l.Arch != runtime.GOARCH {
		if c == "yes" {
			return "no: built for " + l.OS + "/" + l.Arch
		}
		c += "; built for " + l.OS + "/" + l.Arch
	}
	return c
}

// printInfo prints one plugin's listings, grouped by marketplace.
func printInfo(w io.Writer, name, installed string, ls []pluginstall.Listing) error {
	if installed != "" {
		fmt.Fprintf(w, "%s: version %s is installed\n", name, installed)
	}
	bySource := map[string][]pluginstall.Listing{}
	var sources []string
	for _, l := range ls {
		if _, ok := bySource[l.Source]; !ok {
			sources = append(sources, l.Source)
		}
		bySource[l.Source] = append(bySource[l.Source], l)
	}
	for _, s := range sources {
		first := bySource[s][0]
		fmt.Fprintf(w, "\n%s in marketplace %s\n  publisher:   %s\n  kind:        %s\n  description: %s\n  summary:     %s\n\n",
			name, s, first.Publisher, first.Kind, first.Description, first.Summary)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  VERSION\tPLATFORM\tSIZE\tMIN HOST\tPROTOCOLS\tRUNS HERE")
		for _, l := range bySource[s] {
			minHost := l.MinHostVersion
			if minHost == "" {
				minHost = "any"
			}
			fmt.Fprintf(tw, "  %s\t%s/%s\t%s\t%s\t%v\t%s\n", l.Version, l.OS, l.Arch, humanBytes(l.Length), minHost, l.ProtocolVersions, platformCompat(l))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nthis host: mikrobill %s, plugin protocols %v, %s/%s\n", version.Version, client.ProtocolVersions, runtime.GOOS, runtime.GOARCH)
	return nil
}
