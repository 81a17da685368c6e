package client

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
)

// janitorScript runs in /bin/sh. It reads commands from the host on stdin:
// "+ PGID" when a plugin starts, "- PGID" when it ends, "bye" when the host
// stops normally. When stdin ends without "bye", the host has died (even by
// SIGKILL): it kills every plugin process group still listed and removes
// the host's runtime directory (and the directories it was given to remove
// when empty), so no plugin and no socket file is left.
const janitorScript = `dir=$1
pgs=""
while IFS= read -r line; do
  case "$line" in
    "+ "*) pgs="$pgs ${line#+ }" ;;
    "- "*) gone=${line#- }; keep=""; for p in $pgs; do [ "$p" = "$gone" ] || keep="$keep $p"; done; pgs=$keep ;;
    bye) exit 0 ;;
  esac
done
for p in $pgs; do kill -KILL "-$p" 2>/dev/null; done
rm -rf -- "$dir"
shift
for d in "$@"; do rmdir -- "$d" 2>/dev/null; done
`

// Janitor is a small watchdog process that outlives the host to clean up
// after it. The kernel's parent-death signal already kills each plugin when
// the host dies; the janitor also kills what the plugins started (their
// process groups) and removes the runtime directory with every socket in it.
type Janitor struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// StartJanitor starts the janitor for a runtime directory. After removing
// it, the janitor also removes each of ifEmpty that is empty then (the
// directory that holds the runtime directory, when no other host uses it).
func StartJanitor(runtimeDir string, ifEmpty ...string) (*Janitor, error) {
	cmd := exec.Command("/bin/sh", append([]string{"-c", janitorScript, "mikrobill-janitor", runtimeDir}, ifEmpty...)...)
	// Its own process group: a signal to the host's group does not reach
	// it, and it has no parent-death signal: it must outlive the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the janitor (/bin/sh): %w", err)
	}
	j := &Janitor{cmd: cmd, stdin: stdin}
	go func() { _ = cmd.Wait() }()
	return j, nil
}

func (j *Janitor) send(line string) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stdin != nil {
		_, _ = io.WriteString(j.stdin, line+"\n")
	}
}

// Track tells the janitor about a plugin's process group.
func (j *Janitor) Track(pgid int) { j.send("+ " + strconv.Itoa(pgid)) }

// Untrack tells the janitor a plugin's process group is gone.
func (j *Janitor) Untrack(pgid int) { j.send("- " + strconv.Itoa(pgid)) }

// Close ends the janitor without it touching anything (the host cleaned
// up itself).
func (j *Janitor) Close() {
	if j == nil {
		return
	}
	j.send("bye")
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stdin != nil {
		_ = j.stdin.Close()
		j.stdin = nil
	}
}

// Pid returns the janitor's process id.
func (j *Janitor) Pid() int { return j.cmd.Process.Pid }
