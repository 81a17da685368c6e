package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// An interval counts as quiet when fewer than the limit's bytes were
// allocated in it; the one after a busy interval is counted from the end of
// the busy one.
func TestQuietIntervals(t *testing.T) {
	q := quietIntervals{limit: 100, last: 0}
	var got []bool
	for _, now := range []uint64{10, 10, 109, 210, 290, 400, 499} {
		got = append(got, q.quiet(now))
	}
	// 10, 0, 99 (quiet), 101 (busy), 80 (quiet), 110 (busy), 99 (quiet).
	if want := []bool{true, true, true, false, true, false, true}; !slices.Equal(got, want) {
		t.Errorf("quiet = %v, want %v", got, want)
	}
}

// whenIdle releases after a quiet interval, not after a busy one, and stops
// with its context.
func TestWhenIdleReleasesAfterQuietIntervals(t *testing.T) {
	var counter atomic.Uint64
	tick := make(chan time.Time)
	released := make(chan uint64, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		whenIdle(ctx, tick, counter.Load, 100, func() { released <- counter.Load() })
	}()
	tick <- time.Time{} // nothing allocated: release
	if got := <-released; got != 0 {
		t.Errorf("released at %d, want 0", got)
	}
	counter.Store(500)
	tick <- time.Time{} // 500 allocated: no release
	counter.Store(550)
	tick <- time.Time{} // 50 since the busy tick: release
	if got := <-released; got != 550 {
		t.Errorf("released at %d, want 550 (none after the busy interval)", got)
	}
	cancel()
	<-done
	if len(released) != 0 {
		t.Errorf("%d more releases", len(released))
	}
}

func TestAllocatedBytesCounts(t *testing.T) {
	before := allocatedBytes()
	sink = make([]byte, 1<<20)
	if after := allocatedBytes(); after-before < 1<<20 {
		t.Errorf("allocatedBytes went from %d to %d after a 1 MiB allocation", before, after)
	}
}

var sink []byte
