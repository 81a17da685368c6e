package store

// Copying an embedded SQLite store into PostgreSQL (`mikrobill store copy`).
//
// The copy walks the source's schema instead of a list of tables, so tables
// that later migrations add are copied without changing this file: the
// tables come from sqlite_master, their columns from pragma table_info, the
// order from their foreign keys (parents first), and each value is converted
// to the target column's PostgreSQL type (read from pg_attribute). Only the
// tables in CopySkipped are left out.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CopySkipped are the source tables a copy leaves out, and why. Everything
// else in the SQLite file is copied.
var CopySkipped = map[string]string{
	"mikrobill_schema_version": "the host's migration bookkeeping; the target is migrated to the same version before the copy",
	"river_migration":          "the job queue's migration bookkeeping; the target runs the job queue's PostgreSQL migrations",
	"river_leader":             "the job queue's leadership lease; the first host on the target elects itself",
	"hosts":                    "the registry of the hosts that ran on the source; each host registers itself on the target as it starts",
	"river_notification":       "SQLite's stand-in for PostgreSQL's LISTEN/NOTIFY; its rows are transient wake-ups",
}

// CopyTable is one table a copy moves, with its row count in the source.
type CopyTable struct {
	Name string
	Rows int64

	cols    []string // source columns, in order
	rowid   bool     // ordered by rowid (not a WITHOUT ROWID table)
	sumCols []string // integer money-like columns, summed when verifying
}

// CopyCheck is the verification of one copied table: its row counts and
// the sums of its amount-like columns on both sides.
type CopyCheck struct {
	Table  string
	Source int64
	Target int64
	Sums   []CopySum
	OK     bool
}

// CopySum is SUM(column) on both sides, as decimal text.
type CopySum struct {
	Column, Source, Target string
}

// ErrInUse says that a host is running on the source store.
var ErrInUse = errors.New("store in use")

// ErrNotEmpty says that the copy's target holds rows.
var ErrNotEmpty = errors.New("target not empty")

// CopyPlan lists the tables of an SQLite store that a copy moves, parents
// before the tables whose foreign keys name them.
func (s *Store) CopyPlan(ctx context.Context) ([]CopyTable, error) {
	if s.dialect != SQLite {
		return nil, errors.New("the copy's source must be the embedded SQLite store")
	}
	rows, err := s.sqldb.QueryContext(ctx, `SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	type tdef struct{ name, sql string }
	var defs []tdef
	for rows.Next() {
		var d tdef
		if err := rows.Scan(&d.name, &d.sql); err != nil {
			rows.Close()
			return nil, err
		}
		defs = append(defs, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	virtual := map[string]bool{}
	for _, d := range defs {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(d.sql)), "CREATE VIRTUAL TABLE") {
			virtual[d.name] = true
		}
	}
	byName := map[string]*CopyTable{}
	deps := map[string][]string{}
	var names []string
	for _, d := range defs {
		if _, skip := CopySkipped[d.name]; skip || virtual[d.name] || shadowOf(d.name, virtual) {
			continue
		}
		t := &CopyTable{Name: d.name, rowid: !strings.Contains(strings.ToUpper(d.sql), "WITHOUT ROWID")}
		if err := s.sqliteColumns(ctx, t); err != nil {
			return nil, err
		}
		if err := s.sqldb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.Name)).Scan(&t.Rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.Name, err)
		}
		fks, err := s.sqldb.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, t.Name)
		if err != nil {
			return nil, fmt.Errorf("foreign keys of %s: %w", t.Name, err)
		}
		for fks.Next() {
			var parent string
			if err := fks.Scan(&parent); err != nil {
				fks.Close()
				return nil, err
			}
			if parent != t.Name {
				deps[t.Name] = append(deps[t.Name], parent)
			}
		}
		fks.Close()
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	// Parents first; names break ties so the order is stable.
	var ordered []CopyTable
	done, visiting := map[string]bool{}, map[string]bool{}
	var visit func(n string) error
	visit = func(n string) error {
		if done[n] {
			return nil
		}
		if visiting[n] {
			return fmt.Errorf("the foreign keys of %s form a cycle; copy cannot order its tables", n)
		}
		visiting[n] = true
		ps := deps[n]
		sort.Strings(ps)
		for _, p := range ps {
			if _, ok := byName[p]; ok {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		visiting[n] = false
		done[n] = true
		ordered = append(ordered, *byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return ordered, nil
}

// shadowOf reports whether name is a shadow table of one of the virtual
// tables (FTS5 keeps name_data, name_idx, ...): an index, rebuilt, not data.
func shadowOf(name string, virtual map[string]bool) bool {
	for v := range virtual {
		if strings.HasPrefix(name, v+"_") {
			return true
		}
	}
	return false
}

func (s *Store) sqliteColumns(ctx context.Context, t *CopyTable) error {
	rows, err := s.sqldb.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return err
		}
		t.cols = append(t.cols, name)
		if strings.Contains(strings.ToUpper(typ), "INT") && moneyLike(name) {
			t.sumCols = append(t.sumCols, name)
		}
	}
	return rows.Err()
}

// moneyLike picks the columns whose sums a verification compares:
// amount, *_amount, price, total, balance and *_balance.
func moneyLike(col string) bool {
	switch col {
	case "amount", "price", "total", "balance":
		return true
	}
	return strings.HasSuffix(col, "_amount") || strings.HasSuffix(col, "_balance")
}

// InUse returns ErrInUse, with who and until when, when a host runs on the
// SQLite store: the job queue's leader holds an unexpired lease. A host
// that stopped gracefully gave its lease up; one that crashed holds it for
// a few seconds more.
func (s *Store) InUse(ctx context.Context) error {
	var exists int
	if err := s.sqldb.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'river_leader'`).Scan(&exists); err != nil || exists == 0 {
		return err
	}
	rows, err := s.sqldb.QueryContext(ctx, `SELECT leader_id, expires_at FROM river_leader`)
	if err != nil {
		return fmt.Errorf("read the job queue's leader: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var expires any
		if err := rows.Scan(&id, &expires); err != nil {
			return err
		}
		until, ok := sqliteTime(expires)
		if !ok || until.After(time.Now()) {
			return fmt.Errorf("%w: a host (%s) runs on %s (its job queue lease lasts until %v); stop it first", ErrInUse, id, s.where, expires)
		}
	}
	return rows.Err()
}

func sqliteTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v, true
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// FirstNonEmpty returns the first table of a PostgreSQL store that holds
// rows and how many, or "" when every table is empty. The migration
// bookkeeping (CopySkipped) is not looked at.
func (s *Store) FirstNonEmpty(ctx context.Context) (string, int64, error) {
	if s.pool == nil {
		return "", 0, errors.New("the copy's target must be PostgreSQL")
	}
	rows, err := s.pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		return "", 0, fmt.Errorf("list the target's tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", 0, err
	}
	for _, t := range tables {
		if _, skip := CopySkipped[t]; skip {
			continue
		}
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return "", 0, fmt.Errorf("count %s: %w", t, err)
		}
		if n > 0 {
			return t, n, nil
		}
	}
	return "", 0, nil
}

// pgColumn is a target column: its type for the cast and how to convert.
type pgColumn struct {
	typ      string // format_type: "bigint", "bit(8)", "character varying(255)[]"
	category byte   // pg_type.typcategory: B boolean, A array, D date/time, V bit, ...
	base     string // pg_type.typname, or the element's for arrays
}

func (s *Store) pgColumns(ctx context.Context, table string) (map[string]pgColumn, error) {
	rows, err := s.pool.Query(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory::text,
       COALESCE(e.typname, t.typname)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE n.nspname = current_schema() AND c.relname = $1 AND c.relkind = 'r'
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s in the target: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]pgColumn{}
	for rows.Next() {
		var name, typ, cat, base string
		if err := rows.Scan(&name, &typ, &cat, &base); err != nil {
			return nil, err
		}
		cols[name] = pgColumn{typ: typ, category: cat[0], base: base}
	}
	return cols, rows.Err()
}

// CopyTo copies the tables of plan from the SQLite store s into the
// PostgreSQL store dst in one transaction, keeping every id, then moves
// each identity and serial sequence past the copied ids. progress, when
// set, is told the rows copied so far after each batch. dst must be
// migrated to the same version as s and empty (FirstNonEmpty).
func (s *Store) CopyTo(ctx context.Context, dst *Store, plan []CopyTable, progress func(rows int64)) error {
	if s.dialect != SQLite || dst.pool == nil {
		return errors.New("copy goes from the embedded SQLite store to PostgreSQL")
	}
	// One read transaction on the source: a consistent snapshot, and
	// (BEGIN IMMEDIATE) no writer can change it meanwhile.
	stx, err := s.sqldb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin reading %s: %w", s.where, err)
	}
	defer func() { _ = stx.Rollback() }()
	dtx, err := dst.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin writing %s: %w", dst.where, err)
	}
	defer func() { _ = dtx.Rollback(context.WithoutCancel(ctx)) }()
	// SQLite's timestamps without a zone are UTC.
	if _, err := dtx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'`); err != nil {
		return err
	}
	var done int64
	for _, t := range plan {
		n, err := copyTable(ctx, stx, dtx, dst, t, func(batch int64) {
			done += batch
			if progress != nil {
				progress(done)
			}
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", t.Name, err)
		}
		if n != t.Rows {
			return fmt.Errorf("copy %s: read %d rows, counted %d before; is a host writing to the source?", t.Name, n, t.Rows)
		}
		if err := resetSequences(ctx, dtx, t.Name); err != nil {
			return err
		}
	}
	if err := dtx.Commit(ctx); err != nil {
		return fmt.Errorf("commit the copy: %w", err)
	}
	return nil
}

func copyTable(ctx context.Context, stx *sql.Tx, dtx pgx.Tx, dst *Store, t CopyTable, progress func(int64)) (int64, error) {
	target, err := dst.pgColumns(ctx, t.Name)
	if err != nil {
		return 0, err
	}
	if len(target) == 0 {
		return 0, fmt.Errorf("the target has no table %s; is it migrated by the same mikrobill version?", t.Name)
	}
	cols := make([]pgColumn, len(t.cols))
	sel := make([]string, len(t.cols))
	ins := make([]string, len(t.cols))
	for i, c := range t.cols {
		pc, ok := target[c]
		if !ok {
			return 0, fmt.Errorf("the target's %s has no column %s; is it migrated by the same mikrobill version?", t.Name, c)
		}
		cols[i] = pc
		sel[i] = quoteIdent(c)
		if pc.category == 'A' || pc.base == "json" || pc.base == "jsonb" {
			sel[i] = "json(" + quoteIdent(c) + ")" // SQLite's JSONB blobs as text
		}
		ins[i] = quoteIdent(c)
	}
	q := `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + quoteIdent(t.Name)
	if t.rowid {
		q += ` ORDER BY rowid`
	}
	rows, err := stx.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	perBatch := min(1000, 60000/len(cols))
	head := `INSERT INTO ` + quoteIdent(t.Name) + ` (` + strings.Join(ins, ", ") + `) OVERRIDING SYSTEM VALUE VALUES `
	var args []any
	var tuples []string
	var n int64
	flush := func() error {
		if len(tuples) == 0 {
			return nil
		}
		if _, err := dtx.Exec(ctx, head+strings.Join(tuples, ", "), args...); err != nil {
			return err
		}
		progress(int64(len(tuples)))
		args, tuples = args[:0], tuples[:0]
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var tuple strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		tuple.Reset()
		tuple.WriteByte('(')
		for i, v := range vals {
			text, err := pgText(v, cols[i])
			if err != nil {
				return n, fmt.Errorf("row %d, column %s: %w", n+1, t.cols[i], err)
			}
			args = append(args, text)
			if i > 0 {
				tuple.WriteString(", ")
			}
			fmt.Fprintf(&tuple, "$%d::text::%s", len(args), cols[i].typ)
		}
		tuple.WriteByte(')')
		tuples = append(tuples, tuple.String())
		n++
		if len(tuples) == perBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// pgText renders an SQLite value as the text input of a PostgreSQL column
// (nil stays NULL).
func pgText(v any, c pgColumn) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok && c.base != "bytea" {
		v = string(b)
	}
	switch c.category {
	case 'B':
		switch v := v.(type) {
		case int64:
			return strconv.FormatBool(v != 0), nil
		case bool:
			return strconv.FormatBool(v), nil
		case string:
			return v, nil
		}
	case 'V': // bit(n) from an integer bit mask, most significant bit first
		if i, ok := v.(int64); ok {
			width := 8
			if open := strings.IndexByte(c.typ, '('); open >= 0 {
				if w, err := strconv.Atoi(strings.TrimSuffix(c.typ[open+1:], ")")); err == nil {
					width = w
				}
			}
			return fmt.Sprintf("%0*b", width, i), nil
		}
	case 'A': // a JSON array in SQLite
		s, ok := v.(string)
		if !ok {
			break
		}
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(s), &elems); err != nil {
			return nil, fmt.Errorf("not a JSON array for %s: %w", c.typ, err)
		}
		var b strings.Builder
		b.WriteByte('{')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			elem := string(e)
			var str string
			if c.base != "json" && c.base != "jsonb" && json.Unmarshal(e, &str) == nil {
				elem = str
			}
			if elem == "null" {
				b.WriteString("NULL")
				continue
			}
			b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(elem) + `"`)
		}
		b.WriteByte('}')
		return b.String(), nil
	}
	switch v := v.(type) {
	case []byte:
		return `\x` + hex.EncodeToString(v), nil
	case string:
		if c.base == "bytea" {
			return `\x` + hex.EncodeToString([]byte(v)), nil
		}
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("cannot convert %T to %s", v, c.typ)
}

// resetSequences moves each identity or serial sequence of table past the
// largest value its column holds, so new rows get ids after the copied ones.
func resetSequences(ctx context.Context, tx pgx.Tx, table string) error {
	rows, err := tx.Query(ctx, `
SELECT a.attname, pg_get_serial_sequence(quote_ident($1), a.attname)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped
  AND pg_get_serial_sequence(quote_ident($1), a.attname) IS NOT NULL`, table)
	if err != nil {
		return fmt.Errorf("sequences of %s: %w", table, err)
	}
	type seq struct{ col, name string }
	var seqs []seq
	for rows.Next() {
		var s seq
		if err := rows.Scan(&s.col, &s.name); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range seqs {
		q := `SELECT setval($1::regclass, COALESCE((SELECT MAX(` + quoteIdent(s.col) + `) FROM ` + quoteIdent(table) + `), 0) + 1, false)`
		if _, err := tx.Exec(ctx, q, s.name); err != nil {
			return fmt.Errorf("reset the sequence of %s.%s: %w", table, s.col, err)
		}
	}
	return nil
}

// VerifyCopy compares each table of plan in the source s and the target
// dst: row counts and the sums of amount-like columns (amount, *_amount,
// price, total, balance, *_balance).
func (s *Store) VerifyCopy(ctx context.Context, dst *Store, plan []CopyTable) ([]CopyCheck, error) {
	var checks []CopyCheck
	for _, t := range plan {
		c := CopyCheck{Table: t.Name, OK: true}
		if err := s.sqldb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.Name)).Scan(&c.Source); err != nil {
			return nil, fmt.Errorf("count %s in the source: %w", t.Name, err)
		}
		if err := dst.pool.QueryRow(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.Name)).Scan(&c.Target); err != nil {
			return nil, fmt.Errorf("count %s in the target: %w", t.Name, err)
		}
		c.OK = c.Source == c.Target
		for _, col := range t.sumCols {
			sum := CopySum{Column: col}
			expr := `SELECT CAST(COALESCE(SUM(` + quoteIdent(col) + `), 0) AS TEXT) FROM ` + quoteIdent(t.Name)
			if err := s.sqldb.QueryRowContext(ctx, expr).Scan(&sum.Source); err != nil {
				return nil, fmt.Errorf("sum %s.%s in the source: %w", t.Name, col, err)
			}
			if err := dst.pool.QueryRow(ctx, expr).Scan(&sum.Target); err != nil {
				return nil, fmt.Errorf("sum %s.%s in the target: %w", t.Name, col, err)
			}
			c.OK = c.OK && sum.Source == sum.Target
			c.Sums = append(c.Sums, sum)
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// quoteIdent quotes an SQL identifier for both backends.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
