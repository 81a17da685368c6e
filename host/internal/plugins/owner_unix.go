//go:build unix

package plugins

import (
	"os"
	"syscall"
)

// ownedByUs reports whether a file belongs to the user running the host.
func ownedByUs(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
