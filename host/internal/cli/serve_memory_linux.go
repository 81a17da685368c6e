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
// returns the size of the mappings it went over. Only mappings whose every
// page is still the file's are released: a read-only mapping the process
// wrote to before it was made read-only (relocations of a position
// independent executable, RELRO) holds private copies that MADV_DONTNEED
// would throw away, so it is left alone. A page released is faulted in
// again from the page cache when it is used.
func releaseExecutablePages() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
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

// smapsMapping is one mapping of /proc/PID/smaps: its range, permissions,
// file, and how much of it is private copies (Anonymous).
type smapsMapping struct {
	start, end  uint64
	perms, file string
	anonymousKB int64
	line        string
}

// madviseReadOnly calls advise for each mapping of file in smaps (the
// format of /proc/PID/smaps) that is not writable and holds no private
// copy of a page (Anonymous: 0 kB), and returns their total size.
func madviseReadOnly(smaps io.Reader, file string, advise func(start, length uintptr) error) (int64, error) {
	var maps []*smapsMapping
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasSuffix(fields[0], ":") { // "Anonymous:   0 kB"
			if fields[0] == "Anonymous:" && len(maps) > 0 && len(fields) >= 2 {
				kb, err := strconv.ParseInt(fields[1], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("/proc/self/smaps: unexpected line %q", line)
				}
				maps[len(maps)-1].anonymousKB = kb
			}
			continue
		}
		// 00400000-0193d000 r-xp 00000000 fd:01 1234   /path/to/mikrobill
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok || len(fields) < 5 {
			return 0, fmt.Errorf("/proc/self/smaps: unexpected line %q", line)
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return 0, fmt.Errorf("/proc/self/smaps: unexpected line %q", line)
		}
		m := &smapsMapping{start: start, end: end, perms: fields[1], line: line}
		if len(fields) >= 6 {
			m.file = strings.Join(fields[5:], " ")
		}
		maps = append(maps, m)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read /proc/self/smaps: %w", err)
	}
	var total int64
	for _, m := range maps {
		if m.file != file || strings.Contains(m.perms, "w") || m.anonymousKB != 0 {
			continue
		}
		if err := advise(uintptr(m.start), uintptr(m.end-m.start)); err != nil {
			return total, fmt.Errorf("madvise %s: %w", m.line, err)
		}
		total += int64(m.end - m.start)
	}
	return total, nil
}
