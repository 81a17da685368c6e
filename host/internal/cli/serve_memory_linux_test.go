package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMadviseReadOnlyPicksTheFilesReadOnlyMappings(t *testing.T) {
	// smaps: the executable's code and read-only data (clean), a read-only
	// mapping with private copies (relocated, then made read-only: left
	// alone), its writable data, the heap, libc, a deleted file of the same
	// name, the stack.
	maps := `00400000-0193d000 r-xp 00000000 fe:00 9987747                            /opt/mikrobill/bin/mikrobill
Size:              21748 kB
Rss:               12000 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
0193d000-02faa000 r--p 0153d000 fe:00 9987747                            /opt/mikrobill/bin/mikrobill
Size:              23000 kB
Anonymous:             0 kB
02faa000-02fab000 r--p 02baa000 fe:00 9987747                            /opt/mikrobill/bin/mikrobill
Size:                  4 kB
Anonymous:             4 kB
02fab000-03223000 rw-p 02bab000 fe:00 9987747                            /opt/mikrobill/bin/mikrobill
Anonymous:           300 kB
03223000-05300000 rw-p 00000000 00:00 0
Anonymous:          9000 kB
7fa24d57d000-7fa24d5a3000 r--p 00000000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7fa24d5a3000-7fa24d6f9000 r-xp 00026000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7fa24d700000-7fa24d701000 r--p 00000000 fe:00 555                        /opt/mikrobill/bin/mikrobill (deleted)
Anonymous:             0 kB
7ffd23626000-7ffd23647000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
`
	var got []string
	total, err := madviseReadOnly(strings.NewReader(maps), "/opt/mikrobill/bin/mikrobill", func(start, length uintptr) error {
		got = append(got, fmt.Sprintf("%x+%x", start, length))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"400000+153d000", "193d000+166d000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("advised mappings (-want +got):\n%s", diff)
	}
	if total != 0x153d000+0x166d000 {
		t.Errorf("total %#x, want %#x", total, 0x153d000+0x166d000)
	}

	_, err = madviseReadOnly(strings.NewReader("zzz-0193d000 r-xp 0 fe:00 1 /x\n"), "/x", func(uintptr, uintptr) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "unexpected line") {
		t.Errorf("a malformed line: got %v, want an unexpected line error", err)
	}
	_, err = madviseReadOnly(strings.NewReader("00400000-0193d000 r-xp 0 fe:00 1 /x\nAnonymous: many kB\n"), "/x", func(uintptr, uintptr) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "unexpected line") {
		t.Errorf("a malformed line: got %v, want an unexpected line error", err)
	}
}

// The test binary releases its own executable's pages and goes on running
// its code and reading its read-only data.
func TestReleaseExecutablePagesKeepsTheProcessWorking(t *testing.T) {
	before := procStatusKB(os.Getpid(), "RssFile:")
	n, err := releaseExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no read-only mapping of the test's executable was found in /proc/self/smaps")
	}
	after := procStatusKB(os.Getpid(), "RssFile:")
	t.Logf("went over %d MiB of mappings; RssFile %d kB before, %d kB after", n>>20, before, after)
	if after >= before {
		t.Errorf("RssFile %d kB after the release, %d kB before: nothing was released", after, before)
	}
	// Code and tables are mapped back as they are used.
	if got := fmt.Sprintf("%x", []byte("mikrobill")); got != "6d696b726f62696c6c" {
		t.Errorf("after the release, hex of mikrobill = %q", got)
	}
}
