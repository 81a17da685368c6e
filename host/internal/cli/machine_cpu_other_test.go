//go:build !linux

package cli

// readMachineCPU reads /proc, which is Linux's only.
func readMachineCPU() (machineCPU, bool) { return machineCPU{}, false }
