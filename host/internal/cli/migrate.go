package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

func newMigrate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date (serve does it at start too)",
		Long: `migrate applies the host's schema migrations and the job queue's to the
configured database: PostgreSQL (database.url, DATABASE_URL or DB_*) or the
embedded SQLite file in the data directory. It is safe to run again; it
applies only what is missing. serve runs the same at every start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			st, applied, err := openStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			cur, latest, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s database at %s: schema version %d of %d (%d applied now); job queue migrated\n", st.Driver(), st.Where(), cur, latest, len(applied))
			return nil
		},
	}
}
