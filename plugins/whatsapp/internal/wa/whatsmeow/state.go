package whatsmeow

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.mau.fi/whatsmeow/types"
)

// A session's state, as Export writes it: every row that whatsmeow's SQL
// store keeps for the session's device (whatsmeow_device, and each
// whatsmeow_* table's rows whose owner column, our_jid or jid, is the
// device), plus the LID map, which whatsmeow keeps for all devices. Tables
// and columns are read from the database itself, so a table that a later
// whatsmeow adds moves too; Import refuses a state whose tables or columns
// this database does not have (a plugin older than the one that exported).
//
// Changes come from triggers: every insert, update and delete on a
// whatsmeow_* table adds one to mikrobill_wa_changes, so a change check is
// one read of one row.

// stateFormat is the version of Export's encoding.
const stateFormat = 1

// exportedState is Export's encoding.
type exportedState struct {
	Format  int             `json:"format"`
	Session string          `json:"session"`
	JID     string          `json:"jid"`
	Tables  []exportedTable `json:"tables"`
	LIDMap  [][2]string     `json:"lid_map,omitempty"`
}

// exportedTable is one table's rows of the device.
type exportedTable struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Rows    [][]cell `json:"rows"`
}

// cell is one SQLite value with its type: I (integer), F (real), S (text),
// B (blob); none set is NULL.
type cell struct {
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
	S *string  `json:"s,omitempty"`
	B []byte   `json:"b,omitempty"`
}

func toCell(v any) (cell, error) {
	switch x := v.(type) {
	case nil:
		return cell{}, nil
	case int64:
		return cell{I: &x}, nil
	case float64:
		return cell{F: &x}, nil
	case string:
		return cell{S: &x}, nil
	case []byte:
		if x == nil {
			x = []byte{}
		}
		return cell{B: slices.Clone(x)}, nil
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		return cell{I: &n}, nil
	default:
		return cell{}, fmt.Errorf("a value of type %T, which the export does not know", v)
	}
}

func (c cell) value() any {
	switch {
	case c.I != nil:
		return *c.I
	case c.F != nil:
		return *c.F
	case c.S != nil:
		return *c.S
	case c.B != nil:
		return c.B
	default:
		return nil
	}
}

// changesTable counts the writes to whatsmeow's tables (its triggers).
const changesTable = `CREATE TABLE IF NOT EXISTS mikrobill_wa_changes (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT OR IGNORE INTO mikrobill_wa_changes (id, n) VALUES (1, 0)`

// ownedTable is a whatsmeow table and the column naming the device a row
// belongs to.
type ownedTable struct {
	name, owner string
	columns     []string
}

// stateTables lists whatsmeow's tables with the owner column of each (jid
// for whatsmeow_device), whatsmeow_device first. whatsmeow_lid_map, which
// has no owner, is not in the list.
func stateTables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]ownedTable, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'whatsmeow\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list whatsmeow's tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list whatsmeow's tables: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list whatsmeow's tables: %w", err)
	}
	var out []ownedTable
	for _, n := range names {
		if n == "whatsmeow_lid_map" || n == "whatsmeow_version" {
			continue
		}
		cols, err := tableColumns(ctx, q, n)
		if err != nil {
			return nil, err
		}
		t := ownedTable{name: n, columns: cols}
		switch {
		case n == "whatsmeow_device":
			t.owner = "jid"
		case slices.Contains(cols, "our_jid"):
			t.owner = "our_jid"
		case slices.Contains(cols, "jid"):
			t.owner = "jid"
		default:
			continue // not per device
		}
		if n == "whatsmeow_device" {
			out = slices.Insert(out, 0, t)
		} else {
			out = append(out, t)
		}
	}
	if len(out) == 0 || out[0].name != "whatsmeow_device" {
		return nil, fmt.Errorf("the whatsapp device database has no whatsmeow_device table")
	}
	return out, nil
}

func tableColumns(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read the columns of %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// installChangeTriggers makes every write to a whatsmeow table count in
// mikrobill_wa_changes.
func (b *Backend) installChangeTriggers(ctx context.Context) error {
	if _, err := b.db.ExecContext(ctx, changesTable); err != nil {
		return fmt.Errorf("create the whatsapp change counter: %w", err)
	}
	tables, err := stateTables(ctx, b.db)
	if err != nil {
		return err
	}
	names := []string{"whatsmeow_lid_map"}
	for _, t := range tables {
		names = append(names, t.name)
	}
	for _, n := range names {
		for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
			q := fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS mikrobill_changes_%s_%s AFTER %s ON %s
				BEGIN UPDATE mikrobill_wa_changes SET n = n + 1 WHERE id = 1; END`, n, strings.ToLower(op), op, n)
			if _, err := b.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("watch %s for changes: %w", n, err)
			}
		}
	}
	return nil
}

// Changes implements wa.Backend: the count of writes to whatsmeow's tables.
func (b *Backend) Changes(ctx context.Context) (uint64, error) {
	var n int64
	if err := b.db.QueryRowContext(ctx, `SELECT n FROM mikrobill_wa_changes WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the whatsapp change counter: %w", err)
	}
	return uint64(n), nil
}

// Export implements wa.Backend: the rows of the session's device, read in
// one transaction (a consistent snapshot while whatsmeow writes).
func (b *Backend) Export(ctx context.Context, sessionID string) ([]byte, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("export whatsapp session %q: %w", sessionID, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var jid string
	err = tx.QueryRowContext(ctx, `SELECT s.jid FROM mikrobill_wa_session s JOIN whatsmeow_device d ON d.jid = s.jid WHERE s.session_id = ?`, sessionID).Scan(&jid)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export whatsapp session %q: %w", sessionID, err)
	}
	tables, err := stateTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	st := exportedState{Format: stateFormat, Session: sessionID, JID: jid}
	for _, t := range tables {
		et, err := exportTable(ctx, tx, t, jid)
		if err != nil {
			return nil, fmt.Errorf("export whatsapp session %q: %w", sessionID, err)
		}
		st.Tables = append(st.Tables, et)
	}
	rows, err := tx.QueryContext(ctx, `SELECT lid, pn FROM whatsmeow_lid_map ORDER BY lid`)
	if err != nil {
		return nil, fmt.Errorf("export whatsapp session %q: the LID map: %w", sessionID, err)
	}
	for rows.Next() {
		var m [2]string
		if err := rows.Scan(&m[0], &m[1]); err != nil {
			rows.Close()
			return nil, fmt.Errorf("export whatsapp session %q: the LID map: %w", sessionID, err)
		}
		st.LIDMap = append(st.LIDMap, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export whatsapp session %q: the LID map: %w", sessionID, err)
	}
	return json.Marshal(st)
}

// exportTable reads a table's rows of device jid, in a stable order (the
// rows' encodings sorted), so the same state exports the same bytes.
func exportTable(ctx context.Context, tx *sql.Tx, t ownedTable, jid string) (exportedTable, error) {
	et := exportedTable{Name: t.name, Columns: t.columns, Rows: [][]cell{}}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT "%s" FROM %s WHERE %s = ?`, strings.Join(t.columns, `", "`), t.name, t.owner), jid)
	if err != nil {
		return et, fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	type keyed struct {
		key  []byte
		vals []cell
	}
	var all []keyed
	for rows.Next() {
		vals := make([]any, len(t.columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return et, fmt.Errorf("read %s: %w", t.name, err)
		}
		cells := make([]cell, len(vals))
		for i, v := range vals {
			c, err := toCell(v)
			if err != nil {
				return et, fmt.Errorf("read %s.%s: %w", t.name, t.columns[i], err)
			}
			cells[i] = c
		}
		key, _ := json.Marshal(cells)
		all = append(all, keyed{key, cells})
	}
	if err := rows.Err(); err != nil {
		return et, fmt.Errorf("read %s: %w", t.name, err)
	}
	slices.SortFunc(all, func(a, b keyed) int { return bytes.Compare(a.key, b.key) })
	for _, k := range all {
		et.Rows = append(et.Rows, k.vals)
	}
	return et, nil
}

// Import implements wa.Backend: in one transaction, the session's earlier
// device (if any) and any device with the imported JID are deleted with
// all their rows, and the imported rows written.
func (b *Backend) Import(ctx context.Context, sessionID string, state []byte) error {
	var st exportedState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("import whatsapp session %q: the state is not an export of the whatsmeow backend: %w", sessionID, err)
	}
	if st.Format != stateFormat {
		return fmt.Errorf("import whatsapp session %q: the state has format %d, this plugin reads %d; run the same plugin version on every host", sessionID, st.Format, stateFormat)
	}
	if _, err := types.ParseJID(st.JID); err != nil || st.JID == "" {
		return fmt.Errorf("import whatsapp session %q: the state has a malformed device id %q", sessionID, st.JID)
	}
	b.mu.Lock()
	open := b.open[sessionID] != nil
	b.mu.Unlock()
	if open {
		return fmt.Errorf("import whatsapp session %q: its device is open; import before opening it", sessionID)
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import whatsapp session %q: %w", sessionID, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	// Rows are inserted in the export's order; the foreign keys between
	// them are checked at commit.
	if _, err := tx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
		return fmt.Errorf("import whatsapp session %q: %w", sessionID, err)
	}
	local, err := stateTables(ctx, tx)
	if err != nil {
		return err
	}
	known := map[string][]string{}
	for _, t := range local {
		known[t.name] = t.columns
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM whatsmeow_device WHERE jid = ? OR jid IN (SELECT jid FROM mikrobill_wa_session WHERE session_id = ?)`, st.JID, sessionID); err != nil {
		return fmt.Errorf("import whatsapp session %q: delete the earlier device: %w", sessionID, err)
	}
	// Rows of tables without a foreign key to the device do not go with
	// it: delete them by owner.
	for _, t := range local {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s = ?`, t.name, t.owner), st.JID); err != nil {
			return fmt.Errorf("import whatsapp session %q: clear %s: %w", sessionID, t.name, err)
		}
	}
	for _, et := range st.Tables {
		cols, ok := known[et.Name]
		if !ok {
			return fmt.Errorf("import whatsapp session %q: this database has no table %s; upgrade the plugin on this host to the version that exported it", sessionID, et.Name)
		}
		for _, c := range et.Columns {
			if !slices.Contains(cols, c) {
				return fmt.Errorf("import whatsapp session %q: table %s has no column %s here; upgrade the plugin on this host to the version that exported it", sessionID, et.Name, c)
			}
		}
		if len(et.Rows) == 0 {
			continue
		}
		q := fmt.Sprintf(`INSERT INTO %s ("%s") VALUES (?%s)`, et.Name, strings.Join(et.Columns, `", "`), strings.Repeat(", ?", len(et.Columns)-1))
		for _, r := range et.Rows {
			if len(r) != len(et.Columns) {
				return fmt.Errorf("import whatsapp session %q: a row of %s has %d values for %d columns", sessionID, et.Name, len(r), len(et.Columns))
			}
			args := make([]any, len(r))
			for i, c := range r {
				args[i] = c.value()
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("import whatsapp session %q: write %s: %w", sessionID, et.Name, err)
			}
		}
	}
	for _, m := range st.LIDMap {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO whatsmeow_lid_map (lid, pn) VALUES (?, ?)`, m[0], m[1]); err != nil {
			return fmt.Errorf("import whatsapp session %q: write the LID map: %w", sessionID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO mikrobill_wa_session (session_id, jid) VALUES (?, ?)
		ON CONFLICT (session_id) DO UPDATE SET jid = excluded.jid`, sessionID, st.JID); err != nil {
		return fmt.Errorf("import whatsapp session %q: record its device: %w", sessionID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import whatsapp session %q: %w", sessionID, err)
	}
	return nil
}
