package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseExecutablePages unmaps from this process the resident pages of
// its executable's read-only mappings (code, read-only data and the
// function tables; never a writable one) with madvise(MADV_DONTNEED), and
// returns the size of the mappings it went over. Those mappings are never
// written, so their pages are the file's: one that is used again is
// faulted in again from the page cache.
func releaseExecutablePages() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return madviseReadOnly(f, exe, func(start, length uintptr) error {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, length, unix.MADV_DONTNEED); errno != 0 {
			return errno
		}
		return nil
	})
}

// madviseReadOnly calls advise for each mapping of file in maps (the
// format of /proc/PID/maps) that is not writable, and returns their total
// size.
func madviseReadOnly(maps io.Reader, file string, advise func(start, length uintptr) error) (int64, error) {
	var total int64
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// 00400000-0193d000 r-xp 00000000 fd:01 1234   /path/to/mikrobill
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != file || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return total, fmt.Errorf("/proc/self/maps: unexpected line %q", sc.Text())
		}
		if err := advise(uintptr(start), uintptr(end-start)); err != nil {
			return total, fmt.Errorf("madvise %s %s: %w", fields[0], fields[1], err)
		}
		total += int64(end - start)
	}
	if err := sc.Err(); err != nil {
		return total, fmt.Errorf("read /proc/self/maps: %w", err)
	}
	return total, nil
}
