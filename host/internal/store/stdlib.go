package store

import (
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// stdlibOpen wraps a pgx pool as a database/sql handle (for goose).
func stdlibOpen(pool *pgxpool.Pool) *sql.DB { return stdlib.OpenDBFromPool(pool) }
