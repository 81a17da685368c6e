//go:build unix && !linux

package client

import (
	"os/exec"
	"strconv"
	"syscall"
)

// sysProcAttr puts the plugin in a process group of its own. Without Linux's
// parent-death signal, the SDK's watchdog in the plugin ends it when the host
// goes away.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func startProcess(cmd *exec.Cmd) error { return cmd.Start() }

func killProcessGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// execPath is the path through which a child executes the file it inherited
// as descriptor fd: /dev/fd/N (fdescfs) names the child's own descriptor, so
// execve runs exactly the file the host opened.
func execPath(fd int) string { return "/dev/fd/" + strconv.Itoa(fd) }
