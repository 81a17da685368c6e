//go:build linux

package sdktest_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestCaptureStdout(t *testing.T) {
	got := sdktest.CaptureStdout(t, func() {
		fmt.Println("from fmt")
		_, _ = syscall.Write(1, []byte("from fd 1\n"))
		done := make(chan struct{})
		go func() { fmt.Fprint(os.Stdout, "from a goroutine\n"); close(done) }()
		<-done
	})
	if want := "from fmt\nfrom fd 1\nfrom a goroutine\n"; got != want {
		t.Errorf("captured %q, want %q", got, want)
	}
	if got := sdktest.CaptureStdout(t, func() {}); got != "" {
		t.Errorf("captured %q from nothing", got)
	}
}
