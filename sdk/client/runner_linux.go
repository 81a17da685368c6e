package client

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts the plugin in a process group of its own and has the
// kernel send it SIGKILL when the host dies, so no plugin outlives the host.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func startProcess(cmd *exec.Cmd) error { return spawn(cmd) }

func killProcessGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
