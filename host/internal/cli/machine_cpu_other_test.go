//go:build !linux

package cli

import "time"

type machineCPU struct {
	busy, idle               time.Duration
	self, children, postgres time.Duration
}

// readMachineCPU is Linux's only (/proc).
func readMachineCPU() (machineCPU, bool) { return machineCPU{}, false }

func (m machineCPU) sub(earlier machineCPU) machineCPU { return machineCPU{} }

func (m machineCPU) rest() time.Duration { return 0 }
