package cli

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc: USER_HZ, 100 a second on
// every architecture Linux runs Go on.
const userHZ = 100

// readMachineCPU reads the machine's CPU time now; false when /proc cannot
// be read.
func readMachineCPU() (machineCPU, bool) {
	var m machineCPU
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, false
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 5 || string(fields[0]) != "cpu" {
		return m, false
	}
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return m, false
		}
		switch i {
		case 0, 1, 2, 5, 6: // user, nice, system, irq, softirq (guest time is in user; steal is not this machine's)
			m.busy += ticks(n)
		case 3, 4: // idle, iowait
			m.idle += ticks(n)
		}
	}
	self := os.Getpid()
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return m, false
	}
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, cpu, ok := procCPU(pid)
		switch {
		case !ok:
		case pid == self:
			m.self += cpu
		case ppid == self:
			m.children += cpu
		case comm == "postgres":
			m.postgres += cpu
		}
	}
	return m, true
}

// procCPU reads a process's command, parent and CPU time from
// /proc/PID/stat; false when it is gone or unreadable.
func procCPU(pid int) (comm string, ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	// pid (comm) state ppid ...: the command may hold spaces and
	// parentheses, so it ends at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, 0, false
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	utime, err2 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err3 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, false
	}
	return string(b[open+1 : end]), ppid, ticks(utime + stime), true
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
