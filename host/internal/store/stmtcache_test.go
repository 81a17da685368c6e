package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// kept returns how many statements the pool's one connection keeps.
func kept(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	if err := conn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		c.mu.Lock()
		n = len(c.stmts)
		c.mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConnectionsKeepTheirStatements(t *testing.T) {
	ctx := context.Background()
	db, err := openSQLiteDB(sqliteDSN(filepath.Join(t.TempDir(), "kept.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO t (id, name) VALUES (?, ?)`
	for i, name := range []string{"a", "b", "c"} {
		if _, err := db.ExecContext(ctx, insert, i+1, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := kept(t, db); n != 2 {
		t.Fatalf("kept %d statements after one CREATE and three INSERTs of one text, want 2", n)
	}

	// The same query again, with other arguments, on the kept statement.
	const byID = `SELECT name FROM t WHERE id = ?`
	for id, want := range map[int]string{1: "a", 3: "c", 2: "b"} {
		var got string
		if err := db.QueryRowContext(ctx, byID, id).Scan(&got); err != nil || got != want {
			t.Fatalf("id %d: got %q, %v; want %q", id, got, err, want)
		}
	}

	// The same text while the kept statement's rows are open (one
	// transaction, nested): the inner query runs on a statement of its own.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const all = `SELECT id, name FROM t WHERE id >= ? ORDER BY id`
	outer, err := tx.QueryContext(ctx, all, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var id int
		var name string
		if err := outer.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, all, id)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var id2 int
			var name2 string
			if err := inner.Scan(&id2, &name2); err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, name+name2)
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"aa", "ab", "ac", "bb", "bc", "cc"}; len(pairs) != len(want) || pairs[0] != want[0] || pairs[5] != want[5] {
		t.Fatalf("nested queries with one text: got %v, want %v", pairs, want)
	}

	// Column types come through the kept statement's rows.
	rows, err := db.QueryContext(ctx, all, 1)
	if err != nil {
		t.Fatal(err)
	}
	types, err := rows.ColumnTypes()
	if err != nil || len(types) != 2 || types[1].DatabaseTypeName() != "TEXT" {
		t.Fatalf("column types: %v, %v", types, err)
	}
	rows.Close()

	// A kept statement follows a change of the schema.
	if _, err := db.ExecContext(ctx, `ALTER TABLE t ADD COLUMN extra TEXT NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, insert, 4, "d"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := db.QueryRowContext(ctx, byID, 4).Scan(&got); err != nil || got != "d" {
		t.Fatalf("after ALTER TABLE: got %q, %v", got, err)
	}

	// A failing statement is not kept, and says what failed.
	if _, err := db.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); err == nil {
		t.Fatal("insert into a missing table: no error")
	}
	if _, err := db.ExecContext(ctx, insert, 1, "dup"); err == nil {
		t.Fatal("duplicate key: no error")
	}
	if _, err := db.ExecContext(ctx, insert, 5, "e"); err != nil {
		t.Fatalf("the kept INSERT after its failure: %v", err)
	}
}
