package history

import "github.com/prometheus/procfs"

// Process is what the operating system says of a plugin's process.
type Process struct {
	// OK is false when the process could not be read: none runs, it has
	// just exited, or the system has no /proc (only Linux is read).
	OK bool
	// RSSBytes is its resident memory.
	RSSBytes uint64
	// CPUSeconds is the user and system CPU time it has used since it
	// started.
	CPUSeconds float64
}

// ReadProcess reads a process's resident memory and CPU time from
// /proc/<pid>/stat (as the host's /metrics does). On systems without /proc,
// and for a process that is gone, it returns a Process that is not OK.
func ReadProcess(pid int) Process {
	if pid <= 0 {
		return Process{}
	}
	proc, err := procfs.NewProc(pid)
	if err != nil {
		return Process{}
	}
	stat, err := proc.Stat()
	if err != nil {
		return Process{}
	}
	return Process{OK: true, RSSBytes: uint64(max(stat.ResidentMemory(), 0)), CPUSeconds: stat.CPUTime()}
}
