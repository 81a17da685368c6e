package testenv

import (
	"os"
	"syscall"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/client"
)

// FileID is the identity of the file at path as client.SumCache keys it
// (device, inode, size, modification and change times), read from its
// stat here rather than through client.Identify, so that tests of what
// records identities check it against the kernel's own answer.
func FileID(t testing.TB, path string) client.FileID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return client.FileID{Dev: st.Dev, Inode: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}
