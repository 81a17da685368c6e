package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/marketplace"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

func newMarketplace(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "marketplace",
		Short: "Publish plugins in a marketplace, and choose the marketplaces this host trusts",
		Long: `A plugin marketplace is a TUF repository (The Update Framework): signed
metadata (root, targets, snapshot, timestamp) and the plugins' archives,
served by any static web server or copied to a folder (file://).

Publishers: init makes a marketplace folder with its keys, publish signs
plugin folders into it, delegate hands a name pattern (payment-*) to a
publisher's own key, rotate-key replaces a key, refresh re-signs the
short-lived metadata, serve serves it for a demo. keygen makes a key for a
publisher who signs their own plugins.

Operators: add trusts a marketplace by its root metadata (compare the key
fingerprints it prints with what the publisher announced), list shows the
trusted ones (those added and the configuration's marketplace blocks),
remove forgets one, fetch downloads and verifies a plugin into a folder.
` + "`mikrobill plugin search`" + ` and ` + "`plugin info`" + ` look into every trusted marketplace.

docs/marketplace.md tells the whole story.`,
	}
	cmd.AddCommand(newMarketplaceInit(g), newMarketplaceKeygen(g), newMarketplacePublish(g), newMarketplaceDelegate(g),
		newMarketplaceRotateKey(g), newMarketplaceRefresh(g), newMarketplaceServe(g),
		newMarketplaceAdd(g), newMarketplaceList(g), newMarketplaceRemove(g), newMarketplaceFetch(g))
	return cmd
}

// printFingerprints prints the keys of a root, one a line.
func printFingerprints(w io.Writer, fps []marketplace.Fingerprint) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROLE\tKEY ID\tPUBLIC KEY ("+"ed25519)")
	for _, f := range fps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Role, f.KeyID, f.Public)
	}
	return tw.Flush()
}

func newMarketplaceInit(g *globals) *cobra.Command {
	var publisher string
	var exp marketplace.Expiry
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Make a new marketplace: its keys and first signed metadata",
		Long: `init makes a new marketplace in DIR (made if missing; it must not hold one):

  DIR/keys/         one ed25519 key per role (root, targets, snapshot,
                    timestamp), 0600. Keep them secret and backed up; the
                    root key is best kept offline.
  DIR/repository/   what is served: the signed metadata (N.root.json,
                    N.targets.json, N.snapshot.json, timestamp.json) and
                    targets/, the archives. Serve it with any static web
                    server, or ` + "`mikrobill marketplace serve DIR`" + `.
  DIR/root.json     the newest root metadata: hand it to the operators who
                    will trust the marketplace, and announce the key
                    fingerprints init prints (on your website, in a signed
                    mail) so they can check them.
  DIR/marketplace.json  the publisher's name and the expiry periods.

Metadata expires: the timestamp after --timestamp-expiry (1 day), the
snapshot after --snapshot-expiry (7 days), targets and root after a year.
A live marketplace runs ` + "`mikrobill marketplace refresh DIR`" + ` daily (cron).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := marketplace.Init(args[0], marketplace.InitOptions{Publisher: publisher, Expiry: exp})
			if err != nil {
				return err
			}
			defer r.Close()
			fps, err := r.Fingerprints()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "made marketplace %s\n  keys (secret, 0600):      %s\n  serve this folder:        %s\n  hand out this root:       %s\n",
				r.Dir(), filepath.Join(r.Dir(), marketplace.KeysDir), r.RepositoryPath(), r.RootPath())
			fmt.Fprintln(g.stdout, "key fingerprints to announce (operators compare them when they add the marketplace):")
			if err := printFingerprints(g.stdout, fps); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "next: mikrobill marketplace publish PLUGIN_DIR --repo %s\n", r.Dir())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&publisher, "publisher", "", "the publisher's name shown with the plugins the marketplace's own key signs (default: DIR's name)")
	f.DurationVar(&exp.Timestamp, "timestamp-expiry", marketplace.DefaultExpiry.Timestamp, "how long a signed timestamp is valid")
	f.DurationVar(&exp.Snapshot, "snapshot-expiry", marketplace.DefaultExpiry.Snapshot, "how long a signed snapshot is valid")
	f.DurationVar(&exp.Targets, "targets-expiry", marketplace.DefaultExpiry.Targets, "how long signed targets metadata (top-level and delegated) is valid")
	f.DurationVar(&exp.Root, "root-expiry", marketplace.DefaultExpiry.Root, "how long a signed root is valid")
	return cmd
}

func newMarketplaceKeygen(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Make an ed25519 key for a publisher who signs their own plugins",
		Long: `keygen writes a new ed25519 key to FILE (0600; an existing file is never
overwritten) and prints its public key. A publisher (a payment company, say)
keeps FILE and sends the public key to the marketplace, which delegates
their names to it:

  mikrobill marketplace delegate DIR --name 'payment-acme-*' --key PUBLIC-KEY

then signs their plugins with it:

  mikrobill marketplace publish PLUGIN_DIR --repo DIR --key FILE`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, pub, err := marketplace.KeyGen(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (keep it secret)\nkey id:     %s\npublic key: %s\n", args[0], id, pub)
			return nil
		},
	}
}

func newMarketplacePublish(g *globals) *cobra.Command {
	var repo string
	var opt marketplace.PublishOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "publish PLUGIN_DIR... --repo DIR",
		Short: "Archive plugin folders and sign them into a marketplace",
		Long: `publish adds each plugin folder (plugin.json and its executables, as built) to
the marketplace in DIR: one tar.gz per platform, a TUF target
NAME/VERSION/NAME-VERSION-OS-ARCH.tar.gz whose signed custom metadata holds
the manifest's name, version, kind, description, summary,
min_host_version and protocol_versions, the publisher, os and arch.

Platforms: a manifest with "executables" ({"linux-amd64": ...,
"linux-arm64": ...}) gets an archive per executable present in the folder,
each without the other platforms' executables; a folder with one executable
gets one archive, for the platform read from the executable (ELF, Mach-O or
PE), or --os and --arch.

The manifest is checked first (as ` + "`mikrobill plugin validate`" + ` would). A published
version never changes: publishing the same folder again does nothing, other
contents under the same version are refused.

Names delegated to a publisher (` + "`marketplace delegate`" + `) are signed with that
publisher's key, --key FILE; the others with the marketplace's targets key
in DIR/keys. Then snapshot and timestamp are signed anew.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" {
				return errors.New("--repo DIR is required: the marketplace folder (`mikrobill marketplace init DIR` makes one)")
			}
			r, err := marketplace.Open(repo)
			if err != nil {
				return err
			}
			defer r.Close()
			var all []marketplace.Published
			for _, dir := range args {
				out, err := r.Publish(dir, opt)
				if err != nil {
					return err
				}
				all = append(all, out...)
				if asJSON {
					continue
				}
				for _, p := range out {
					what := "published"
					if p.Unchanged {
						what = "unchanged"
					}
					fmt.Fprintf(g.stdout, "%s %s %s for %s/%s: %s (%s, sha256 %s), signed by %s\n", what, p.Custom.Name, p.Custom.Version,
						p.Custom.OS, p.Custom.Arch, p.Path, humanBytes(p.Length), p.SHA256[:16], p.Role)
				}
			}
			if asJSON {
				return writeJSON(g.stdout, all)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "the marketplace folder (required)")
	f.StringVar(&opt.Key, "key", "", "key file of the delegated role that signs these names (default: the marketplace's targets key)")
	f.StringVar(&opt.Publisher, "publisher", "", "publisher name shown with the plugins (default: the marketplace's, or the delegated role's name)")
	f.StringVar(&opt.OS, "os", "", "the GOOS a single-executable folder was built for (default: read from the executable)")
	f.StringVar(&opt.Arch, "arch", "", "the GOARCH a single-executable folder was built for (default: read from the executable)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// humanBytes is n as "12.3 MB".
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func newMarketplaceDelegate(g *globals) *cobra.Command {
	var pattern, role, keySpec string
	cmd := &cobra.Command{
		Use:   "delegate DIR --name PATTERN --key new|PUBLIC-KEY|FILE",
		Short: "Let a publisher sign the plugin names matching a pattern with their own key",
		Long: `delegate adds a delegated targets role to the marketplace in DIR: plugin names
matching --name (wildcards * and ?, for example 'payment-*') are signed by
--key from then on, not by the marketplace's targets key. The delegation is
terminating: clients look those names up in that role only, so a key
delegated other names (or no key at all) cannot sign them.

--key is "new" (a key made now and kept in DIR/keys/ROLE.key, for a publisher
the marketplace signs for), the publisher's public key in hex (they keep the
private key, made with ` + "`mikrobill marketplace keygen`" + `), or a key file.
--role names the role (default: the pattern without wildcards, "payment").

The publisher then publishes with ` + "`mikrobill marketplace publish PLUGIN_DIR --repo DIR --key THEIR-KEY-FILE`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pattern == "" || keySpec == "" {
				return errors.New("--name PATTERN and --key are required, for example --name 'payment-*' --key new")
			}
			r, err := marketplace.Open(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			id, generated, err := r.Delegate(pattern, role, keySpec)
			if err != nil {
				return err
			}
			d := r.Delegations()
			last := d[len(d)-1]
			fmt.Fprintf(g.stdout, "delegated %s to role %s, key %s\n", strings.Join(last.Paths, ", "), last.Role, id)
			if generated {
				fmt.Fprintf(g.stdout, "its private key: %s (publish with --key %s)\n", filepath.Join(args[0], marketplace.KeysDir, last.Role+".key"), filepath.Join(args[0], marketplace.KeysDir, last.Role+".key"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pattern, "name", "", "plugin name pattern, such as 'payment-*' (required)")
	f.StringVar(&keySpec, "key", "", `"new", an ed25519 public key in hex, or a key file (required)`)
	f.StringVar(&role, "role", "", "the role's name (default: the pattern without its wildcards)")
	return cmd
}

func newMarketplaceRotateKey(g *globals) *cobra.Command {
	keySpec := "new"
	cmd := &cobra.Command{
		Use:   "rotate-key DIR ROLE",
		Short: "Replace the key of a role (root, targets, snapshot, timestamp or a delegated role)",
		Long: `rotate-key replaces ROLE's key in the marketplace in DIR with a new one (--key
new, the default) or the given key (a key file; for a delegated role also a
public key in hex). The old private key moves to DIR/keys/retired/.

Hosts keep working: a new root is signed by both the old and the new root
key, so a host that trusts the old root verifies the new one and moves on;
the top-level roles' keys are named in a new root, a delegated role's in new
targets metadata. Rotate a key that may have leaked at once; rotate the
others on a schedule. DIR/root.json is the newest root afterwards: hand it to
new operators.

A delegated role whose publisher keeps their own key is refused by hosts
until the publisher publishes again with the new key.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := marketplace.Open(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			id, err := r.RotateKey(args[1], keySpec)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "the %s role is signed by key %s now; the old key is in %s\n", args[1], id, filepath.Join(args[0], marketplace.KeysDir, "retired"))
			if args[1] == "root" {
				fps, err := r.Fingerprints()
				if err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, "announce the new fingerprints:")
				return printFingerprints(g.stdout, fps)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keySpec, "key", "new", `"new", a key file, or (delegated roles) an ed25519 public key in hex`)
	return cmd
}

func newMarketplaceRefresh(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "refresh DIR",
		Short: "Re-sign the snapshot and timestamp (and any role expiring within 30 days)",
		Long: `refresh signs new snapshot and timestamp metadata for the marketplace in DIR,
with new versions and expiry dates, and before them any role whose
metadata expires within 30 days and whose key is in DIR/keys.

Hosts refuse a marketplace whose timestamp has expired (1 day by default):
that is how they notice someone serving them an old copy (a freeze attack).
Run refresh daily from cron on a live marketplace, or before a demo.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := marketplace.Open(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			roles, err := r.Refresh()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "re-signed %s\n", strings.Join(roles, ", "))
			exp := r.Expires()
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROLE\tEXPIRES")
			for _, role := range sortedKeys(exp) {
				fmt.Fprintf(tw, "%s\t%s\n", role, exp[role].UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newMarketplaceServe(g *globals) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve DIR",
		Short: "Serve a marketplace folder over HTTP (a demo; any static web server serves a real one)",
		Long: `serve serves DIR/repository (the signed metadata and targets/, never the keys)
on --addr until interrupted, and prints its URL and the command that trusts
it. Range requests are served, so cut downloads resume.

A real marketplace is served by any static web server or object store over
HTTPS (nginx, S3, GitHub Pages): copy DIR/repository there after each
publish or refresh, metadata files last. Offline machines use a copy of the
folder as a file:// marketplace.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := marketplace.Open(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			srv, err := marketplace.Listen(r.Dir(), addr)
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(g.stdout, "serving %s at %s (Ctrl-C stops)\ntrust it with: mikrobill marketplace add NAME %s --root %s\n", r.RepositoryPath(), srv.URL(), srv.URL(), r.RootPath())
			if g.serving != nil {
				g.serving(srv.URL())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on; port 0 picks a free port")
	return cmd
}

func newMarketplaceAdd(g *globals) *cobra.Command {
	var rootFile string
	var noCheck bool
	cmd := &cobra.Command{
		Use:   "add NAME URL --root root.json",
		Short: "Trust a marketplace by its root metadata",
		Long: `add trusts the marketplace at URL under NAME (lowercase letters, digits, '-'):
https://... or http://... (the folder holding its metadata files, such as
https://plugins.example.net/repository), or file:///path for a marketplace
folder on this machine (offline: a copy of the publisher's repository
folder).

--root is the marketplace's root metadata (root.json) as its publisher handed
it out. add prints its key fingerprints: compare them with those the
publisher announced before going on; they are what this host trusts.
Later root rotations are followed automatically.

The name, URL and root are kept in the data directory
(<data_dir>/marketplaces/NAME/, 0700, with the marketplace's metadata cache).
A marketplace "NAME" { url = ..., root = ... } block in the configuration
file trusts one the same way.

add then fetches the marketplace's metadata once to check it; with
--no-check it is added without (the check runs at the next search).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootFile == "" {
				return errors.New("--root root.json is required: the marketplace's root metadata, from its publisher")
			}
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			root, err := os.ReadFile(rootFile)
			if err != nil {
				return fmt.Errorf("--root: %w", err)
			}
			fps, version, err := marketplace.Fingerprints(root)
			if err != nil {
				return fmt.Errorf("--root %s: %w", rootFile, err)
			}
			fmt.Fprintf(g.stdout, "root metadata %s (version %d) trusts these keys; compare them with what the publisher announced:\n", rootFile, version)
			if err := printFingerprints(g.stdout, fps); err != nil {
				return err
			}
			t, err := marketplace.Add(cfg, args[0], args[1], root)
			if err != nil {
				return err
			}
			if !noCheck {
				c, err := t.Open(marketplace.Options{})
				if err == nil {
					var listed []pluginstall.Listing
					var problems []marketplace.Problem
					listed, problems, err = c.Listings(cmd.Context())
					if err == nil {
						fmt.Fprintf(g.stdout, "marketplace %s serves %d plugin archives%s\n", t.Name, len(listed), problemNote(len(problems)))
					}
				}
				if err != nil {
					if rerr := marketplace.Remove(cfg, t.Name); rerr != nil {
						err = errors.Join(err, rerr)
					}
					return fmt.Errorf("%w\nnot added; check the URL and root, or add it with --no-check to check later", err)
				}
			}
			fmt.Fprintf(g.stdout, "trusted marketplace %s (%s), kept in %s\nnext: mikrobill plugin search\n", t.Name, t.URL, t.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&rootFile, "root", "", "the marketplace's root metadata file, root.json (required)")
	cmd.Flags().BoolVar(&noCheck, "no-check", false, "add without fetching the marketplace's metadata first")
	return cmd
}

func problemNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d refused: see the warnings of `mikrobill plugin search`)", n)
}

func newMarketplaceList(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the marketplaces this host trusts",
		Long: `list shows every marketplace this host trusts: those added with
` + "`mikrobill marketplace add`" + ` and those the configuration file declares
(marketplace blocks), with their URL and the root metadata they are trusted by.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			list, err := marketplace.List(cfg)
			if err != nil {
				return err
			}
			for _, t := range list {
				if _, err := os.Stat(t.Root); err != nil {
					fmt.Fprintf(g.stderr, "warning: marketplace %s cannot be used: its root metadata: %v\n", t.Name, err)
				}
			}
			if asJSON {
				if list == nil {
					list = []marketplace.Trusted{}
				}
				return writeJSON(g.stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(g.stdout, "no trusted marketplaces; add one with `mikrobill marketplace add NAME URL --root root.json`")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tURL\tFROM\tROOT")
			for _, t := range list {
				from := "added " + t.Added.Format("2006-01-02")
				if t.Config {
					from = "configuration"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.URL, from, t.Root)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMarketplaceRemove(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop trusting a marketplace",
		Long: `remove forgets a marketplace added with ` + "`mikrobill marketplace add`" + `: its folder in
the data directory (trusted root, metadata cache, partial downloads) is
deleted. Plugins installed from it stay installed. A marketplace declared in
the configuration file is removed by deleting its block there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			if err := marketplace.Remove(cfg, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "marketplace %s is no longer trusted\n", args[0])
			return nil
		},
	}
}

func newMarketplaceFetch(g *globals) *cobra.Command {
	var to, from string
	cmd := &cobra.Command{
		Use:   "fetch NAME[@VERSION] --to DIR",
		Short: "Download, verify and unpack a plugin into a folder, without installing it",
		Long: `fetch refreshes the trusted marketplaces' metadata, downloads NAME (the newest
version for this platform, or @VERSION) with a progress bar, verifies it
against its signed target (length and hashes) before unpacking anything,
and unpacks it safely into DIR (made; it must be empty): regular files and
folders only, no absolute paths, no "..", no links, within size and file
count limits. A cut download resumes where it stopped.

Nothing is installed: ` + "`mikrobill plugin install`" + ` installs. --from picks the
marketplace when several offer NAME.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("--to DIR is required: the folder to unpack into")
			}
			name, version, _ := strings.Cut(args[0], "@")
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			src, err := pickSource(cmd, g, cfg, name, from)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			progress, done := DownloadBar(g.stderr, "downloading "+name)
			l, err := src.Fetch(cmd.Context(), name, version, to, progress)
			done()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "fetched %s %s for %s/%s from marketplace %s (%s, verified) into %s\n", l.Name, l.Version, l.OS, l.Arch, l.Source, humanBytes(l.Length), to)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the folder to unpack into (required; made if missing, must be empty)")
	cmd.Flags().StringVar(&from, "from", "", "the marketplace to fetch from (default: the one that offers NAME)")
	return cmd
}

// DownloadBar is a progress bar on w for one download (bytes, rate, time
// left), as a pluginstall.Progress; done ends it. On a w that is not a
// terminal it prints nothing.
func DownloadBar(w io.Writer, desc string) (pluginstall.Progress, func()) {
	if !isTerminal(w) {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	progress := func(done, total int64) {
		if bar == nil {
			if total <= 0 {
				total = -1
			}
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(desc),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		_ = bar.Set64(done)
	}
	return progress, func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
