package pluginstall

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Want is what the store records as a plugin's latest finished action
// (store.LatestPluginActions): every host sharing the store should have
// it.
type Want struct {
	Action string
	Name   string
	// Version and FolderSHA256 are the target's; Source is where it came
	// from (a marketplace's name or a folder's path).
	Version, Source, FolderSHA256 string
}

// Converge brings the plugin directory to wants, before a host starts its
// plugins: a plugin installed, upgraded or rolled back through another
// host is fetched from the same source and placed only if its folder hash
// is the recorded one (or a kept version with that hash is made active
// again); one removed elsewhere is removed here (its data stays). It
// returns what it did, one line per plugin, and the plugins it could not
// bring in line, with why: those are left as they are.
func (in *Installer) Converge(ctx context.Context, wants []Want) (did []string, errs []error) {
	for _, w := range wants {
		msg, err := in.converge(ctx, w)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %q (%s %s recorded in the store): %w", w.Name, w.Action, w.Version, err))
		} else if msg != "" {
			did = append(did, msg)
		}
	}
	return did, errs
}

func (in *Installer) converge(ctx context.Context, w Want) (string, error) {
	cur, entry, err := in.active(w.Name)
	if err != nil {
		return "", err
	}
	if w.Action == ActionRemove {
		if cur == nil {
			return "", nil
		}
		if _, err := in.Remove(ctx, w.Name, true, false, Observer{}); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: removed, as another host did", w.Name), nil
	}
	if cur != nil && entry != nil && entry.FolderSHA256 == w.FolderSHA256 {
		return "", nil
	}
	for _, v := range in.Layout().KeptVersions(w.Name) {
		if e, err := in.Layout().keptLock(w.Name, v); err == nil && v == w.Version && e.FolderSHA256 == w.FolderSHA256 {
			if _, err := in.Rollback(ctx, w.Name, Observer{}); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: kept version %s made active again, as another host did", w.Name, v), nil
		}
	}
	src, err := in.Source(ctx, w.Source)
	if errors.Is(err, ErrNotFound) {
		if st, serr := os.Stat(w.Source); serr == nil && st.IsDir() {
			src, err = DirSource{Dir: w.Source}, nil
		}
	}
	if err != nil {
		return "", err
	}
	action := ActionInstall
	if cur != nil {
		action = ActionUpgrade
	}
	if _, err := in.put(ctx, action, src, w.Name, w.Version, w.FolderSHA256, Observer{}); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s %s from %s, as another host did", w.Name, action, w.Version, describeSource(src)), nil
}
