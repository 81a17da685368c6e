package cli

import "time"

// machineCPU is where the machine's CPU time had gone at one moment: its
// cores' busy and idle time (/proc/stat), and the CPU time (user and
// system) of this process, of its child processes (the plugins the hosts
// in this process started) and of PostgreSQL's server processes (those
// whose command is postgres), each summed over the processes alive at that
// moment. Between two readings, a process that started in between counts
// all its time and one that ended counts none: the pools' connections and
// the plugins live through a measurement, so neither matters there.
type machineCPU struct {
	busy, idle               time.Duration
	self, children, postgres time.Duration
}

// sub is what was spent between earlier and m.
func (m machineCPU) sub(earlier machineCPU) machineCPU {
	return machineCPU{busy: m.busy - earlier.busy, idle: m.idle - earlier.idle, self: m.self - earlier.self,
		children: m.children - earlier.children, postgres: m.postgres - earlier.postgres}
}

// rest is the busy time of everything else: the kernel's own threads,
// other processes.
func (m machineCPU) rest() time.Duration { return max(m.busy-m.self-m.children-m.postgres, 0) }
