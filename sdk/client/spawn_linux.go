package client

import (
	"os/exec"
	"runtime"
	"sync"
)

// Linux sends the parent-death signal when the *thread* that forked the child
// exits, not the process. Go keeps threads alive unless a goroutine locked to
// one exits, but to be safe every plugin is forked from one dedicated thread
// that lives as long as the host.
var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread stays for good
			for req := range spawnCh {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}
