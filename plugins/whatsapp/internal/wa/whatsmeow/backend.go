// Package whatsmeow is the real wa.Backend, over go.mau.fi/whatsmeow.
//
// Start with New: it opens (or creates) the SQLite database in the plugin's
// data directory that holds every session's device keys, in whatsmeow's own
// SQL store (go.mau.fi/whatsmeow/store/sqlstore, on the pure-Go
// modernc.org/sqlite driver, no cgo), and a small table of its own that maps
// a sender session's id to the WhatsApp device (JID) paired for it, so that
// Open finds the same device, with the same keys, after a restart.
//
// Export and Import (state.go) move one session's device, every row
// whatsmeow keeps for it, between data directories; triggers on whatsmeow's
// tables count its writes, so Changes is one read.
//
// The translation of whatsmeow's events to wa.Event is one pure function,
// translate (events.go); the device (device.go) feeds it the client's
// events and its QR channel. whatsmeow's own log records go to the plugin's
// hclog logger (log.go), never to stdout, and its debug records (the raw
// protocol nodes, the QR codes) are dropped, so keys never reach a log.
package whatsmeow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"modernc.org/sqlite"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// DBFile is the name of the database, in the directory given to New, that
// holds the device keys. It is private to the plugin (mode 0600): whoever
// reads it can send as the paired WhatsApp accounts.
const DBFile = "whatsmeow.db"

// DriverName is the database/sql driver name whatsmeow's SQL store expects
// for SQLite. RegisterSQLite3 binds it to modernc.org/sqlite.
const DriverName = "sqlite3"

// DeviceOS is the name the phone shows for a device linked by this plugin
// (Settings > Linked devices).
const DeviceOS = "Mikrobill"

var (
	registerOnce sync.Once
	registerErr  error
)

// RegisterSQLite3 registers modernc.org/sqlite (pure Go) as the "sqlite3"
// database/sql driver, which whatsmeow's SQL store names. It is safe to call
// any number of times, from any goroutine. It fails when another driver
// already holds the name (a cgo SQLite linked into the same binary): the
// store's pragmas are written for modernc.org/sqlite.
func RegisterSQLite3() error {
	registerOnce.Do(func() {
		for _, name := range sql.Drivers() {
			if name == DriverName {
				registerErr = checkDriver()
				return
			}
		}
		sql.Register(DriverName, &sqlite.Driver{})
	})
	return registerErr
}

// checkDriver reports whether the "sqlite3" driver someone else registered
// is modernc.org/sqlite.
func checkDriver() error {
	db, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		return fmt.Errorf("open the %q driver: %w", DriverName, err)
	}
	defer db.Close()
	if _, ok := db.Driver().(*sqlite.Driver); !ok {
		return fmt.Errorf("the %q database/sql driver is %T, not modernc.org/sqlite: remove the other SQLite driver from the build", DriverName, db.Driver())
	}
	return nil
}

// dsn is the data source name of the database at path: foreign keys on
// (whatsmeow's store refuses to start without them), WAL with a busy
// timeout so that several sessions write at once, and write transactions
// that take the lock at BEGIN instead of failing halfway.
func dsn(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// sessionTable maps a sender session to its paired device. Unpaired
// sessions have no row: whatsmeow keeps nothing of a device before it is
// paired, and an unpaired device is created fresh on Open.
const sessionTable = `CREATE TABLE IF NOT EXISTS mikrobill_wa_session (
	session_id TEXT PRIMARY KEY,
	jid        TEXT NOT NULL UNIQUE REFERENCES whatsmeow_device(jid) ON DELETE CASCADE
)`

// Backend is the whatsmeow-backed wa.Backend. Build it with New.
type Backend struct {
	log       hclog.Logger
	db        *sql.DB
	container *sqlstore.Container

	mu     sync.Mutex
	open   map[string]*Device
	closed bool
}

var _ wa.Backend = (*Backend)(nil)

// New opens the device database in dir (created with mode 0700 when
// missing), upgrading whatsmeow's schema, and returns the backend. log
// receives whatsmeow's records (info and above).
func New(dir string, log hclog.Logger) (wa.Backend, error) {
	return Open(context.Background(), dir, log)
}

// Open is New with a context for the schema upgrade, returning the concrete
// type.
func Open(ctx context.Context, dir string, log hclog.Logger) (*Backend, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if dir == "" {
		return nil, errors.New("whatsapp data directory is empty: the plugin needs its data directory to keep device keys")
	}
	if err := RegisterSQLite3(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the whatsapp data directory: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	// Create the file private before SQLite does (its WAL and shared-memory
	// files take the database file's mode).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the whatsapp device database: %w", err)
	}
	_ = f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("make the whatsapp device database private: %w", err)
	}

	db, err := sql.Open(DriverName, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open the whatsapp device database %s: %w", path, err)
	}
	wlog := newLogger(log.Named("whatsmeow"))
	container := sqlstore.NewWithDB(db, DriverName, wlog.Sub("Database"))
	if err := container.Upgrade(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("upgrade the whatsapp device database %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, sessionTable); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create the whatsapp session table: %w", err)
	}
	store.DeviceProps.Os = proto.String(DeviceOS)
	b := &Backend{log: log, db: db, container: container, open: map[string]*Device{}}
	if err := b.installChangeTriggers(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	b.warnOrphans(ctx)
	return b, nil
}

// warnOrphans logs devices that no session refers to: a crash between
// whatsmeow saving a new pairing and the session's row being written leaves
// one. They stay in the phone's linked devices until removed there.
func (b *Backend) warnOrphans(ctx context.Context) {
	rows, err := b.db.QueryContext(ctx, `SELECT jid FROM whatsmeow_device
		WHERE jid NOT IN (SELECT jid FROM mikrobill_wa_session)`)
	if err != nil {
		b.log.Warn("list whatsapp devices without a session", "error", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var jid string
		if rows.Scan(&jid) == nil {
			b.log.Warn("a whatsapp device belongs to no session; remove it from the phone's linked devices if it is listed there",
				"jid", jid)
		}
	}
}

// Open returns the device of a session: the paired one recorded for it, or
// a new unpaired one. A session has one open device: opening it again
// closes the earlier one (two connections with the same keys would replace
// each other at WhatsApp).
func (b *Backend) Open(ctx context.Context, sessionID string) (wa.Device, error) {
	return b.OpenDevice(ctx, sessionID)
}

// OpenDevice is Open returning the concrete type.
func (b *Backend) OpenDevice(ctx context.Context, sessionID string) (*Device, error) {
	if strings.TrimSpace(sessionID) == "" {
		return nil, errors.New("whatsapp session id is empty")
	}
	b.mu.Lock()
	old := b.open[sessionID]
	b.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("whatsapp backend is closed")
	}
	if other := b.open[sessionID]; other != nil {
		return nil, fmt.Errorf("whatsapp session %q was opened twice at once", sessionID)
	}
	dev, err := b.loadDevice(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	d := newDevice(b, sessionID, dev)
	b.open[sessionID] = d
	return d, nil
}

// loadDevice finds the paired device of a session, or makes a new one.
func (b *Backend) loadDevice(ctx context.Context, sessionID string) (*store.Device, error) {
	jid, ok, err := b.sessionJID(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return b.container.NewDevice(), nil
	}
	dev, err := b.container.GetDevice(ctx, jid)
	if err != nil {
		return nil, fmt.Errorf("load the whatsapp device of session %q: %w", sessionID, err)
	}
	if dev == nil {
		// The keys were deleted (a logout) after the row was written;
		// the foreign key normally removes the row with them.
		if err := b.forget(ctx, sessionID); err != nil {
			return nil, err
		}
		return b.container.NewDevice(), nil
	}
	return dev, nil
}

// sessionJID reads the device a session is paired with.
func (b *Backend) sessionJID(ctx context.Context, sessionID string) (types.JID, bool, error) {
	var s string
	err := b.db.QueryRowContext(ctx, `SELECT jid FROM mikrobill_wa_session WHERE session_id = ?`, sessionID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return types.EmptyJID, false, nil
	}
	if err != nil {
		return types.EmptyJID, false, fmt.Errorf("read the whatsapp device of session %q: %w", sessionID, err)
	}
	jid, err := types.ParseJID(s)
	if err != nil {
		return types.EmptyJID, false, fmt.Errorf("whatsapp session %q has a malformed device id %q: %w", sessionID, s, err)
	}
	return jid, true, nil
}

// remember records the device a session was just paired with.
func (b *Backend) remember(ctx context.Context, sessionID string, jid types.JID) error {
	_, err := b.db.ExecContext(ctx, `INSERT INTO mikrobill_wa_session (session_id, jid) VALUES (?, ?)
		ON CONFLICT (session_id) DO UPDATE SET jid = excluded.jid`, sessionID, jid.String())
	if err != nil {
		return fmt.Errorf("record the whatsapp device of session %q: %w", sessionID, err)
	}
	return nil
}

// forget removes a session's row.
func (b *Backend) forget(ctx context.Context, sessionID string) error {
	if _, err := b.db.ExecContext(ctx, `DELETE FROM mikrobill_wa_session WHERE session_id = ?`, sessionID); err != nil {
		return fmt.Errorf("forget the whatsapp device of session %q: %w", sessionID, err)
	}
	return nil
}

// Delete forgets a session's keys. An open device of the session is
// disconnected and stays open, unpaired: its next use starts from a fresh
// device. Deleting a session that has no keys is not an error.
func (b *Backend) Delete(ctx context.Context, sessionID string) error {
	b.mu.Lock()
	d := b.open[sessionID]
	b.mu.Unlock()
	if d != nil {
		d.forgetKeys()
	}
	jid, ok, err := b.sessionJID(ctx, sessionID)
	if err != nil {
		return err
	}
	if ok {
		dev, err := b.container.GetDevice(ctx, jid)
		if err != nil {
			return fmt.Errorf("load the whatsapp device of session %q: %w", sessionID, err)
		}
		if dev != nil {
			if err := dev.Delete(ctx); err != nil {
				return fmt.Errorf("delete the whatsapp keys of session %q: %w", sessionID, err)
			}
		}
	}
	return b.forget(ctx, sessionID)
}

// closed removes a device from the open set.
func (b *Backend) release(sessionID string, d *Device) {
	b.mu.Lock()
	if b.open[sessionID] == d {
		delete(b.open, sessionID)
	}
	b.mu.Unlock()
}

// Close closes every open device and the database.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	open := make([]*Device, 0, len(b.open))
	for _, d := range b.open {
		open = append(open, d)
	}
	b.mu.Unlock()
	for _, d := range open {
		_ = d.Close()
	}
	return b.container.Close()
}
