package client

import "os"

// SumCache remembers the executables whose SHA-256 a launch has computed,
// so that a plugin started again (a restart, the host started again) is
// not read and hashed again: for the bundled plugins that is 20 to 40 MB
// each, the largest single step of a launch (docs/BENCHMARKS.md, "Every
// bundled plugin to /ready").
//
// The key is the identity of the open file that is about to run: its
// device, inode, size, and modification and change times. The kernel sets
// a file's change time (ctime) to the current time on every write to it
// and on every change of its metadata, and no system call sets it back
// (short of setting the system's clock, which needs root), so an
// executable rewritten in place, or replaced by another file, has another
// identity even when its size and modification time were put back: it is
// hashed again, and refused when it differs from the lock. An
// implementation keeps what it remembers where only the host can write
// (the host's data directory), or where only those who can approve
// plugins can (beside the lock file: mikrobill's host also reads the sums
// that `mikrobill plugin lock` recorded as it hashed the executables). Outside Linux no identity is taken and
// every launch hashes.
type SumCache interface {
	// Known reports whether the executable at path, with identity id,
	// was hashed to sum by an earlier launch.
	Known(path string, id FileID, sum []byte) bool
	// Hashed records that the executable at path, with identity id,
	// hashed to sum.
	Hashed(path string, id FileID, sum []byte)
}

// FileID is the identity of a file as SumCache keys it; times are in
// nanoseconds since the Unix epoch.
type FileID struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
}

// Identify returns the identity a SumCache keys a file by, from the Stat
// of the open file that is hashed (taken before its bytes are read, so a
// write during the read gives the file another identity). It reports false
// outside Linux, where no identity is taken.
func Identify(fi os.FileInfo) (FileID, bool) { return identify(fi) }
