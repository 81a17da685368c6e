package pluginstall

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
)

// The journal makes every change of a plugin directory all or nothing. A
// change (install, upgrade, rollback, remove) is one switch of a plugin's
// active folder, carried out in steps, each a rename or an atomic write:
//
//	begun   the journal is written: what is switched, from what to what
//	kept    the active folder moved to .versions/<name>/<from>/ (if any)
//	placed  the target folder (staged, or a kept version) renamed to <name>/
//	locked  plugins.lock written with the target's entry (or without the name)
//
// and the journal is removed. A process killed at any point leaves the
// journal behind; the next start (Recover) looks at the folders, not only
// at the recorded step: once the target is in place it rolls forward (the
// target was checked before the switch began) by writing the lock;
// before, it rolls back by putting the previous folder back. Either way
// the folder and plugins.lock agree again.

// journal is the change under way.
type journal struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Name   string `json:"name"`
	// From is the active version before ("" when not installed) and
	// FromEntry its lock entry.
	From      string          `json:"from,omitempty"`
	FromEntry *lockfile.Entry `json:"from_entry,omitempty"`
	// To is the version switched to and Target its folder ("" for a
	// remove); ToEntry its lock entry.
	To      string          `json:"to,omitempty"`
	Target  string          `json:"target,omitempty"`
	ToEntry *lockfile.Entry `json:"to_entry,omitempty"`
	// ToSum is the executable's identity and sum as the install's check
	// hashed it, for plugins.lock.sums (lockfile.WriteSums); nil for a
	// remove, a switch back or a rollback to a kept version.
	ToSum *lockfile.ExecutableSum `json:"to_sum,omitempty"`
	// Discard: the previous folder is deleted once the switch is done
	// (an install rolled back), not kept.
	Discard bool   `json:"discard,omitempty"`
	Step    string `json:"step"`
}

// Journal steps.
const (
	stepBegun  = "begun"
	stepKept   = "kept"
	stepPlaced = "placed"
	stepLocked = "locked"
)

// CrashEnv names the test hook: a process whose environment sets it to a
// journal step kills itself (SIGKILL) right after writing that step, so a
// test can check what the next start finds. Tests only.
const CrashEnv = "MIKROBILL_TEST_INSTALL_CRASH_AT"

func (l Layout) writeJournal(j *journal, step string) error {
	j.Step = step
	raw, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.Journal(), raw); err != nil {
		return fmt.Errorf("write the install journal: %w", err)
	}
	if os.Getenv(CrashEnv) == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return nil
}

// switchTo carries out j: the active folder of j.Name becomes j.Target
// (nothing for a remove), the previous one is kept under .versions, and
// plugins.lock follows. The caller holds the directory's lock.
func (l Layout) switchTo(j *journal) error {
	if err := l.writeJournal(j, stepBegun); err != nil {
		return err
	}
	if j.From != "" {
		kept := l.Kept(j.Name, j.From)
		if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
			return err
		}
		if kept != j.Target {
			_ = os.RemoveAll(kept)
		}
		if err := os.Rename(l.Active(j.Name), kept); err != nil {
			return l.undo(j, fmt.Errorf("move %s aside: %w", l.Active(j.Name), err))
		}
		if j.FromEntry != nil {
			if err := l.keep(j.Name, j.From, *j.FromEntry); err != nil {
				return l.undo(j, err)
			}
		}
		if err := l.writeJournal(j, stepKept); err != nil {
			return l.undo(j, err)
		}
	}
	if j.Target != "" {
		if err := os.Rename(j.Target, l.Active(j.Name)); err != nil {
			return l.undo(j, fmt.Errorf("put %s in place: %w", j.Target, err))
		}
		_ = syncDir(l.Dir)
		if err := l.writeJournal(j, stepPlaced); err != nil {
			return err // in place: the next start rolls forward
		}
	}
	return l.finish(j)
}

// finish writes the lock for a switch whose target is in place, and
// removes the journal.
func (l Layout) finish(j *journal) error {
	lf, err := lockfile.Read(l.Dir)
	if err != nil {
		return err
	}
	if j.ToEntry != nil {
		lf.Plugins[j.Name] = *j.ToEntry
	} else {
		delete(lf.Plugins, j.Name)
	}
	if err := lockfile.Write(l.Dir, lf); err != nil {
		return err
	}
	// The lock's sums, so that the first launch of what was installed need
	// not hash its executable again: a cache, whose failure costs only that.
	fresh := map[string]lockfile.ExecutableSum{}
	if j.ToSum != nil {
		fresh[j.Name] = *j.ToSum
	}
	_ = lockfile.WriteSums(l.Dir, lf, fresh)
	if err := l.writeJournal(j, stepLocked); err != nil {
		return err
	}
	if j.To != "" {
		_ = os.Remove(l.keptEntry(j.Name, j.To)) // a kept version made active again
	}
	if j.Discard && j.From != "" {
		_ = os.RemoveAll(l.Kept(j.Name, j.From))
		_ = os.Remove(l.keptEntry(j.Name, j.From))
	}
	return os.Remove(l.Journal())
}

// undo rolls back a switch that failed before its target was placed, and
// returns cause.
func (l Layout) undo(j *journal, cause error) error {
	if err := l.rollBack(j); err != nil {
		return fmt.Errorf("%w; and putting the previous folder back failed: %v (the next start tries again)", cause, err)
	}
	return cause
}

// rollBack puts the previous active folder back and drops the journal.
func (l Layout) rollBack(j *journal) error {
	if j.From != "" {
		if _, err := os.Stat(l.Active(j.Name)); errors.Is(err, os.ErrNotExist) {
			if err := os.Rename(l.Kept(j.Name, j.From), l.Active(j.Name)); err != nil {
				return err
			}
			_ = os.Remove(l.keptEntry(j.Name, j.From))
		}
	}
	if j.Target != "" && l.staged(j.Target) {
		_ = os.RemoveAll(j.Target)
	}
	return os.Remove(l.Journal())
}

// staged reports whether dir is under .staging.
func (l Layout) staged(dir string) bool {
	rel, err := filepath.Rel(l.Staging(), dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// placed reports whether j's target is in place: the target folder has
// been renamed to the active one (a remove: the active one moved aside).
func (l Layout) placed(j *journal) bool {
	_, activeErr := os.Stat(l.Active(j.Name))
	if j.Target == "" {
		return errors.Is(activeErr, os.ErrNotExist)
	}
	_, targetErr := os.Stat(j.Target)
	return errors.Is(targetErr, os.ErrNotExist) && activeErr == nil
}

// Recovery says what Recover found and did.
type Recovery struct {
	// ID, Action, Name, From and To describe the interrupted change (""
	// when there was none). Action is one of the Action* constants.
	ID, Action, Name, From, To string
	// FolderSHA256 is the hash of the folder made active ("" for a
	// remove).
	FolderSHA256 string
	// Forward: it was completed; otherwise it was undone.
	Forward bool
}

// Recover finishes or undoes a change a killed process left behind in the
// plugin directory dir, and empties the staging folder. The host runs it
// at start before discovering plugins; each install runs it first too. It
// takes the directory's lock (waiting up to wait).
func Recover(dir string, wait time.Duration) (*Recovery, error) {
	lk, err := lockDir(dir, wait)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	return Layout{Dir: dir}.recoverLocked()
}

func (l Layout) recoverLocked() (*Recovery, error) {
	defer os.RemoveAll(l.Staging())
	raw, err := os.ReadFile(l.Journal())
	if errors.Is(err, os.ErrNotExist) {
		return &Recovery{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the install journal: %w", err)
	}
	var j journal
	if err := json.Unmarshal(raw, &j); err != nil || j.Name == "" {
		return nil, fmt.Errorf("the install journal %s is unreadable (%v); compare the plugin folders with plugins.lock, then delete it", l.Journal(), err)
	}
	rec := &Recovery{ID: j.ID, Action: publicAction(j.Action), Name: j.Name, From: j.From, To: j.To}
	if j.ToEntry != nil {
		rec.FolderSHA256 = j.ToEntry.FolderSHA256
	}
	if l.placed(&j) {
		rec.Forward = true
		if err := l.finish(&j); err != nil {
			return nil, fmt.Errorf("complete the interrupted %s of %q: %w", j.Action, j.Name, err)
		}
		return rec, nil
	}
	if err := l.rollBack(&j); err != nil {
		return nil, fmt.Errorf("undo the interrupted %s of %q: %w", j.Action, j.Name, err)
	}
	return rec, nil
}

// publicAction names the installer's inner switches by what they amount
// to: putting back the previous version after a failed switch is a
// rollback; taking out a plugin that did not start is a remove.
func publicAction(a string) string {
	switch a {
	case actionSwitchBack:
		return ActionRollback
	case actionUndoInstall:
		return ActionRemove
	}
	return a
}
