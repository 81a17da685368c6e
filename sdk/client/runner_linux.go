package client

import (
	"os/exec"
	"strconv"
	"syscall"
)

// sysProcAttr puts the plugin in a process group of its own and has the
// kernel send it SIGKILL when the host dies, so no plugin outlives the host.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func startProcess(cmd *exec.Cmd) error { return spawn(cmd) }

func killProcessGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// execPath is the path through which a child executes the file it inherited
// as descriptor fd: /proc/self/fd/N names the child's own descriptor once it
// has been set up, so execve runs exactly the file the host opened.
func execPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
