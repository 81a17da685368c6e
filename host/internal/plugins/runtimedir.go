package plugins

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// The runtime directory: this host instance's private directory for the
// plugins' sockets, <runtime_dir>/<pid>. The janitor (client.Janitor)
// removes it should the host be killed; Manager.Stop removes it otherwise.

// prepareRuntimeDir makes this host instance's socket directory, a
// directory named after the host's pid inside base, and removes what hosts
// that are no longer running left there. Every directory must end up a real
// directory of ours with mode 0700, not something another user prepared
// (base may live in the shared temporary directory).
func prepareRuntimeDir(base string) (string, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("create the runtime directory %s: %w", base, err)
	}
	if err := checkPrivate(base); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("read the runtime directory %s: %w", base, err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() && processAlive(pid) {
			continue // another host on the same data directory
		}
		if err := os.RemoveAll(filepath.Join(base, e.Name())); err != nil {
			return "", fmt.Errorf("clean the runtime directory %s: %w", base, err)
		}
	}
	dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the runtime directory %s: %w", dir, err)
	}
	return dir, checkPrivate(dir)
}

func checkPrivate(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check the runtime directory %s: %w", dir, err)
	}
	if !info.IsDir() || info.Mode().Perm() != 0o700 || !ownedByUs(info) {
		return fmt.Errorf("the runtime directory %s is not a private directory of this user (mode 0700); remove it and start again", dir)
	}
	return nil
}
