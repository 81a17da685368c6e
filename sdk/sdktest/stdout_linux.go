//go:build linux

package sdktest

import (
	"io"
	"os"
	"syscall"
	"testing"
)

// CaptureStdout runs fn with the process's file descriptor 1 (stdout, which
// belongs to the go-plugin handshake in a plugin) taken over by a pipe, and
// returns everything written there meanwhile: by fn, by goroutines, by
// libraries that print. A plugin's test calls it around what a library it
// uses might print and checks the result is empty.
//
// Not for parallel tests: it takes the whole process's stdout while fn runs.
func CaptureStdout(t testing.TB, fn func()) string {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	saved, err := syscall.Dup(1)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		read <- string(b)
	}()
	if err := syscall.Dup3(int(pw.Fd()), 1, 0); err != nil {
		_ = syscall.Close(saved)
		_ = pw.Close()
		t.Fatal(err)
	}
	func() {
		defer func() {
			_ = syscall.Dup3(saved, 1, 0)
			_ = syscall.Close(saved)
			_ = pw.Close()
		}()
		fn()
	}()
	return <-read
}
