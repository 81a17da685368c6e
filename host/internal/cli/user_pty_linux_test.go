package cli

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controlling and terminal ends.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptmx, tty
}

// TestUserCreateAsksTwice: without --password-stdin the password is asked
// for twice on the terminal, and two different answers change nothing.
func TestUserCreateAsksTwice(t *testing.T) {
	dir := t.TempDir()
	env := []string{"MIKROBILL_DATA_DIR=" + dir}
	run := func(answers string, args ...string) (error, string, string) {
		ptmx, tty := openPTY(t)
		if _, err := ptmx.WriteString(answers); err != nil {
			t.Fatal(err)
		}
		g := &globals{environ: env}
		var out, errb strings.Builder
		g.stdout, g.stderr = &out, &errb
		root := newRoot(g)
		root.SetArgs(args)
		root.SetIn(tty)
		err := root.ExecuteContext(context.Background())
		return err, out.String(), errb.String()
	}
	err, _, prompts := run("first password\nsecond password\n", "user", "create", "--username", "ana", "--role", "admin")
	if err == nil || !strings.Contains(err.Error(), "differ") || !strings.Contains(prompts, "New password for ana:") || !strings.Contains(prompts, "Repeat it:") {
		t.Fatalf("different answers: %v, prompts %q", err, prompts)
	}
	if err, _, _ := run("tiny\n", "user", "create", "--username", "ana"); err == nil || !strings.Contains(err.Error(), "at least 10 characters") {
		t.Errorf("a weak first answer: %v", err)
	}
	err, out, _ := run("same password\nsame password\n", "user", "create", "--username", "ana", "--role", "admin")
	if err != nil || !strings.Contains(out, "created user ana (admin)") {
		t.Fatalf("same answers: %v %q", err, out)
	}
}
