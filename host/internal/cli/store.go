package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func newStore(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Work on the host's database as a whole (back it up, restore it, copy it to PostgreSQL)",
	}
	cmd.AddCommand(newStoreCopy(g), newStoreBackup(g), newStoreRestore(g))
	return cmd
}

func newStoreCopy(g *globals) *cobra.Command {
	var from, to string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "copy --to postgres://... [--from DATA_DIR] [--quiet]",
		Short: "Copy the embedded SQLite store into an empty PostgreSQL database",
		Long: `copy moves an install from the embedded SQLite file (what ` + "`make run`" + ` uses) to
PostgreSQL: every table of the schema (plans, customers, invoices, payments,
users, API tokens, plugin settings, the plugins' durable records, the audit
log, the job queue) with their ids, so links, receipts and tokens keep
working. It

  - refuses while a host runs on the SQLite file (stop it first),
  - migrates the target with this host's migrations and the job queue's,
  - refuses a target that holds any row, naming the table,
  - copies in one transaction (a failure leaves the target empty), then
    moves every id sequence past the copied ids,
  - verifies each table's row count and the sums of its amount columns, and
    prints the comparison.

The tables are read from the SQLite file's schema, so tables added by later
versions are copied too. Left out are only the migration bookkeeping
(mikrobill_schema_version, river_migration; the target has its own) and the
job queue's transient river_leader and river_notification, and the hosts
registry (each host registers itself on the target as it starts).

The SQLite file stays as it was. Afterwards set database.url (or
DATABASE_URL) to the target and start the host.`,
		Example: `  mikrobill store copy --to postgres://mikrobill:secret@127.0.0.1:5432/mikrobill
  mikrobill store copy --from /var/lib/mikrobill --to "$DATABASE_URL" --quiet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !strings.HasPrefix(to, "postgres://") && !strings.HasPrefix(to, "postgresql://") {
				return errors.New("--to must be a PostgreSQL URL, e.g. --to postgres://user:password@127.0.0.1:5432/mikrobill")
			}
			dir := from
			if dir == "" {
				cfg, err := g.load(cmd, config.Overrides{})
				if err != nil {
					return err
				}
				dir = cfg.DataDir
			}
			if filepath.Base(dir) == store.FileName {
				dir = filepath.Dir(dir)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return copyStore(ctx, g, dir, to, quiet)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL database to copy into, postgres://user:password@host:5432/name (required; it must hold no rows)")
	cmd.Flags().StringVar(&from, "from", "", "the data directory holding "+store.FileName+" (default: the configured data directory)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar (it is also left out when standard error is not a terminal)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func copyStore(ctx context.Context, g *globals, dir, to string, quiet bool) error {
	path := filepath.Join(dir, store.FileName)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no embedded database at %s: %w; --from names the data directory that holds %s", path, err, store.FileName)
	}
	src, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		return err
	}
	defer src.Close()
	if err := src.InUse(ctx); err != nil {
		return err
	}
	// The source at this host's schema version, as serve would leave it.
	if _, err := src.Migrate(ctx); err != nil {
		return err
	}
	if err := jobs.Migrate(ctx, src); err != nil {
		return err
	}
	dst, err := store.Open(ctx, store.Options{URL: to, MaxConns: 4})
	if err != nil {
		return err
	}
	defer dst.Close()
	if table, n, err := dst.FirstNonEmpty(ctx); err != nil {
		return err
	} else if table != "" {
		return notEmpty(dst, table, n)
	}
	if _, err := dst.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate the target: %w", err)
	}
	if err := jobs.Migrate(ctx, dst); err != nil {
		return fmt.Errorf("migrate the target's job queue: %w", err)
	}
	if table, n, err := dst.FirstNonEmpty(ctx); err != nil {
		return err
	} else if table != "" {
		return notEmpty(dst, table, n)
	}
	sv, _, err := src.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	dv, _, err := dst.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if sv != dv {
		return fmt.Errorf("the source is at schema version %d and the target at %d; copy with the mikrobill version that made the newer one", sv, dv)
	}
	plan, err := src.CopyPlan(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, t := range plan {
		total += t.Rows
	}
	fmt.Fprintf(g.stderr, "copying %d rows in %d tables from %s to %s (schema version %d)\n", total, len(plan), src.Where(), dst.Where(), sv)
	var bar *progressbar.ProgressBar
	if !quiet && isTerminal(g.stderr) && total > 0 {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(g.stderr),
			progressbar.OptionSetDescription("copying"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	err = src.CopyTo(ctx, dst, plan, func(done int64) {
		if bar != nil {
			_ = bar.Set64(done)
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("%w; nothing was kept in the target", err)
	}
	checks, err := src.VerifyCopy(ctx, dst, plan)
	if err != nil {
		return err
	}
	bad := printChecks(g.stdout, checks)
	if bad > 0 {
		return fmt.Errorf("%d table(s) differ after the copy (marked DIFFERS above); do not switch to the target, and report this", bad)
	}
	fmt.Fprintf(g.stdout, "copied and verified %d rows in %d tables. Next: stop using %s, set database.url (or DATABASE_URL) to %s and start the host\n", total, len(plan), src.Where(), dst.Where())
	if _, err := os.Stat(filepath.Join(dir, config.SecretsFile)); err == nil {
		fmt.Fprintf(g.stdout, "Keep %s: its encryption key decrypts the router passwords and plugin secrets just copied. Start the host with the same data directory, or set security.encryption_key (MIKROBILL_ENCRYPTION_KEY) to its encryption_key\n", filepath.Join(dir, config.SecretsFile))
	}
	return nil
}

func notEmpty(dst *store.Store, table string, n int64) error {
	return fmt.Errorf("%w: the table %s of %s holds %d row(s); copy only into an empty database (create a new one, e.g. createdb mikrobill)", store.ErrNotEmpty, table, dst.Where(), n)
}

// printChecks prints the verification, one line per table, and returns how
// many tables differ.
func printChecks(w io.Writer, checks []store.CopyCheck) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSQLITE\tPOSTGRESQL\tSUMS\tRESULT")
	bad := 0
	for _, c := range checks {
		var sums []string
		for _, s := range c.Sums {
			if s.Source == s.Target {
				sums = append(sums, fmt.Sprintf("%s=%s", s.Column, s.Source))
			} else {
				sums = append(sums, fmt.Sprintf("%s=%s/%s", s.Column, s.Source, s.Target))
			}
		}
		result := "ok"
		if !c.OK {
			result = "DIFFERS"
			bad++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", c.Table, c.Source, c.Target, strings.Join(sums, " "), result)
	}
	_ = tw.Flush()
	return bad
}

// isTerminal reports whether w (through the command's serialising writer)
// is a terminal.
func isTerminal(w io.Writer) bool {
	if s, ok := w.(*syncWriter); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
