package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func newStoreBackup(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE [--from DATA_DIR]",
		Short: "Write a consistent copy of the embedded SQLite store, while the host runs",
		Long: `backup writes the embedded SQLite store (` + store.FileName + ` in the data directory)
to a new file, while hosts go on running on it: SQLite's VACUUM INTO copies
one snapshot in one read transaction, so payments keep being taken and the
backup holds every one committed before it began. The file is checked
(SQLite's integrity check, the schema version, its invoice and payment
counts are printed) and appears only once whole; an existing file is never
overwritten.

The store holds everything the host knows (customers, invoices, payments,
users, API tokens, plugin settings, the plugins' durable records, the job
queue) but not the plugins' own data directories (the audit log's files,
the WhatsApp queue): back those up too (docs/operations.md, Backups).

On PostgreSQL the host's database is backed up with pg_dump; this command
says so.`,
		Example: `  mikrobill store backup --to /var/backups/mikrobill/mikrobill-$(date +%F).db
  mikrobill store backup --from /var/lib/mikrobill --to /mnt/backup/mikrobill.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, dir, err := storeDir(cmd, g, from)
			if err != nil {
				return err
			}
			o := store.Options{DataDir: dir}
			if from == "" && cfg.Database.URL != "" {
				o = store.Options{URL: cfg.Database.URL, MaxConns: 1}
			}
			st, err := store.Open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer st.Close()
			info, err := st.Backup(cmd.Context(), to)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s: %s, schema %d, %d invoices, %d payments\n",
				st.Where(), info.Path, humanBytes(info.Bytes), info.SchemaVersion, info.Invoices, info.Payments)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the backup file to write (required; it must not exist)")
	cmd.Flags().StringVar(&from, "from", "", "the data directory holding "+store.FileName+" (default: the configured data directory)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func newStoreRestore(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "restore --from FILE [--to DATA_DIR]",
		Short: "Put a backup made by `store backup` in place of the embedded SQLite store (the host stopped)",
		Long: `restore puts a backup file written by ` + "`mikrobill store backup`" + ` in place of the
embedded SQLite store of the data directory. It

  - refuses while a host runs on the store (stop it first),
  - checks the backup (SQLite's integrity check, mikrobill's schema) and
    refuses one made by a newer mikrobill,
  - keeps the store's files before, renamed ` + store.FileName + `.before-restore-<time>
    (with their -wal and -shm), never deletes them,
  - copies the backup beside the store and renames it into place.

The next start brings an older backup's schema up to date. Payments taken
after the backup was made are not in it: the gateways still know them, and
the host's reconciliation asks them about the invoices left unpaid.`,
		Example: `  systemctl stop mikrobill
  mikrobill store restore --from /var/backups/mikrobill/mikrobill-2026-12-01.db
  systemctl start mikrobill`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, dir, err := storeDir(cmd, g, to)
			if err != nil {
				return err
			}
			if to == "" && cfg.Database.URL != "" {
				return fmt.Errorf("the host's database is PostgreSQL (database.url): restore it with pg_restore (docs/operations.md, Backups); --to DATA_DIR restores an embedded store")
			}
			latest, err := store.LatestVersion()
			if err != nil {
				return err
			}
			info, kept, err := store.Restore(cmd.Context(), dir, from, latest, time.Now())
			if err != nil {
				return err
			}
			path := filepath.Join(dir, store.FileName)
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s (schema %d, %d invoices, %d payments) to %s; the store before is kept as %s\n",
				info.Path, info.SchemaVersion, info.Invoices, info.Payments, path, path+kept)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the backup file (required)")
	cmd.Flags().StringVar(&to, "to", "", "the data directory to restore into (default: the configured data directory)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// storeDir is the data directory a store command works on: the flag's, or
// the configuration's.
func storeDir(cmd *cobra.Command, g *globals, flag string) (*config.Config, string, error) {
	cfg := &config.Config{}
	dir := flag
	if dir == "" {
		var err error
		if cfg, err = g.load(cmd, config.Overrides{}); err != nil {
			return nil, "", err
		}
		dir = cfg.DataDir
	}
	if filepath.Base(dir) == store.FileName {
		dir = filepath.Dir(dir)
	}
	return cfg, dir, nil
}
