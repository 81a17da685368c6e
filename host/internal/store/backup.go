package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BackupInfo describes a backup file of the embedded store.
type BackupInfo struct {
	Path string
	// Bytes is the file's size.
	Bytes int64
	// SchemaVersion is the newest migration applied in it.
	SchemaVersion int64
	// Invoices and Payments are row counts, for the operator to compare.
	Invoices, Payments int64
}

// Backup writes a consistent copy of the embedded SQLite store to path,
// which must not exist, while hosts may go on running on the store: VACUUM
// INTO reads one snapshot in one read transaction, so writers are not
// stopped and the copy holds every transaction committed before it began
// and none after. The copy is written beside path and renamed into place
// once checked (PRAGMA integrity_check), so path is either a whole backup
// or absent. On PostgreSQL it refuses and names pg_dump.
func (s *Store) Backup(ctx context.Context, path string) (BackupInfo, error) {
	if s.dialect != SQLite {
		return BackupInfo{}, fmt.Errorf("the store is PostgreSQL (%s): back it up with pg_dump, e.g. pg_dump --format=custom --file=mikrobill.dump \"$DATABASE_URL\", and restore with pg_restore (docs/operations.md, Backups)", s.where)
	}
	if path == "" {
		return BackupInfo{}, errors.New("no backup file named: give one, e.g. --to /var/backups/mikrobill-$(date +%F).db")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := os.Lstat(abs); err == nil {
		return BackupInfo{}, fmt.Errorf("%s exists: a backup never overwrites a file; name a new one or remove it first", abs)
	}
	if same, _ := sameFile(abs, s.where); same {
		return BackupInfo{}, fmt.Errorf("%s is the store itself; name another file", abs)
	}
	tmp := abs + ".partial"
	_ = os.Remove(tmp) // a partial file of an earlier backup that was cut short
	if _, err := s.sqldb.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, fmt.Errorf("back up %s into %s: %w; check that the directory exists, is writable and has room", s.where, abs, err)
	}
	info, err := CheckBackup(ctx, tmp)
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, abs)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, err
	}
	_ = syncDir(filepath.Dir(abs))
	info.Path = abs
	return info, nil
}

// CheckBackup opens a backup file read-only and checks that it is a whole
// SQLite database of this host's schema: PRAGMA integrity_check, the
// migrations' table, the invoices and payments tables.
func CheckBackup(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return BackupInfo{}, fmt.Errorf("backup %s is not a regular file", path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("open backup %s: %w", path, err)
	}
	defer db.Close()
	bad := func(why string, err error) (BackupInfo, error) {
		if err != nil {
			why += ": " + err.Error()
		}
		return BackupInfo{}, fmt.Errorf("%s is not a usable mikrobill backup: %s", path, why)
	}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return bad("it is not an SQLite database", err)
	}
	if check != "ok" {
		return bad("SQLite's integrity check failed ("+check+")", nil)
	}
	info := BackupInfo{Path: path, Bytes: st.Size()}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM mikrobill_schema_version WHERE is_applied`).Scan(&info.SchemaVersion); err != nil {
		return bad("it has no mikrobill schema", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM invoices), (SELECT COUNT(*) FROM payments)`).Scan(&info.Invoices, &info.Payments); err != nil {
		return bad("it lacks mikrobill's tables", err)
	}
	return info, nil
}

// Restore puts the backup file from in place of the embedded store of
// dataDir, which no host may be running on. The backup is checked first
// (CheckBackup) and must not be newer than this host's schema (latest);
// an older one is brought up to date by the next Migrate, as serve does.
// The store's files before (mikrobill.db and its -wal and -shm) are kept,
// renamed with the suffix it returns, never deleted.
func Restore(ctx context.Context, dataDir, from string, latest int64, now time.Time) (info BackupInfo, keptSuffix string, err error) {
	info, err = CheckBackup(ctx, from)
	if err != nil {
		return BackupInfo{}, "", err
	}
	if info.SchemaVersion > latest {
		return BackupInfo{}, "", fmt.Errorf("%s was made by a newer mikrobill (schema %d; this one knows up to %d): restore it with that version or newer", from, info.SchemaVersion, latest)
	}
	path := filepath.Join(dataDir, FileName)
	if same, _ := sameFile(from, path); same {
		return BackupInfo{}, "", fmt.Errorf("%s is the store itself; name a backup file", from)
	}
	if _, err := os.Stat(path); err == nil {
		cur, err := Open(ctx, Options{DataDir: dataDir})
		if err != nil {
			return BackupInfo{}, "", err
		}
		err = cur.InUse(ctx)
		cur.Close()
		if err != nil {
			return BackupInfo{}, "", err
		}
	} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return BackupInfo{}, "", fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	// The copy goes beside the store first, so the rename below is on one
	// file system and the store is never half written.
	tmp := path + ".restoring"
	if err := copyFile(from, tmp); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, "", fmt.Errorf("copy %s into %s: %w", from, dataDir, err)
	}
	keptSuffix = ".before-restore-" + now.UTC().Format("20060102T150405Z")
	for _, ext := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(path+ext, path+ext+keptSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(tmp)
			return BackupInfo{}, "", fmt.Errorf("keep the store's file %s: %w", path+ext, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return BackupInfo{}, "", fmt.Errorf("put the backup in place at %s: %w (the store before is kept as %s)", path, err, path+keptSuffix)
	}
	_ = syncDir(dataDir)
	info.Path = from
	return info, keptSuffix, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sameFile reports whether a and b name one file (false when either is
// absent).
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(strings.TrimPrefix(b, "file:"))
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}
