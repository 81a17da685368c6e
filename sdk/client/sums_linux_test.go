package client

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeSums is a SumCache in memory that counts its calls.
type fakeSums struct {
	known        map[string]FileID
	sums         map[string][]byte
	hits, hashed int
}

func (s *fakeSums) Known(path string, id FileID, sum []byte) bool {
	ok := s.known[path] == id && string(s.sums[path]) == string(sum)
	if ok {
		s.hits++
	}
	return ok
}

func (s *fakeSums) Hashed(path string, id FileID, sum []byte) {
	s.known[path], s.sums[path] = id, sum
	s.hashed++
}

// An executable is hashed once; opened again unchanged it is not; rewritten
// in place with the same size and its modification time put back, it has
// another identity and is hashed again, and refused.
func TestOpenExecutableRemembersSumsByIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	good := []byte("#!/bin/sh\necho good\n")
	if err := os.WriteFile(path, good, 0o755); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(good)
	sums := &fakeSums{known: map[string]FileID{}, sums: map[string][]byte{}}
	for i := range 2 {
		f, err := openExecutable(path, want[:], sums)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		f.Close()
	}
	if sums.hashed != 1 || sums.hits != 1 {
		t.Fatalf("hashed %d times and known %d times, want once each", sums.hashed, sums.hits)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the file system's clock granularity
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("bad!"), 15); err != nil { // same size
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the rewrite should keep size and modification time: %d %v, was %d %v", after.Size(), after.ModTime(), fi.Size(), fi.ModTime())
	}
	if _, err := openExecutable(path, want[:], sums); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("the rewritten executable: got %v, want ErrChecksumMismatch", err)
	}
	if sums.hits != 1 {
		t.Errorf("the rewritten executable was taken as known (%d hits)", sums.hits)
	}
}

// HashAhead tells the cache what a launch would compute, so that the
// launch reads nothing; stopped, it tells nothing; known, it reads
// nothing.
func TestHashAheadIsWhatTheLaunchFinds(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "plugin")
	content := make([]byte, 3<<20+5) // more than one megabyte read
	for i := range content {
		content[i] = byte(i)
	}
	if err := os.WriteFile(exe, content, 0o755); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(content)
	sums := &fakeSums{known: map[string]FileID{}, sums: map[string][]byte{}}

	calls := 0
	if HashAhead(exe, want[:], sums, func() bool { calls++; return calls > 2 }) || sums.hashed != 0 {
		t.Fatalf("a hash stopped half way told the cache (%d sums)", sums.hashed)
	}
	if !HashAhead(exe, want[:], sums, func() bool { return false }) || sums.hashed != 1 {
		t.Fatalf("HashAhead did not tell the cache (%d sums)", sums.hashed)
	}
	if HashAhead(exe, want[:], sums, nil) || sums.hashed != 1 {
		t.Errorf("a known executable was hashed again (%d sums)", sums.hashed)
	}
	f, err := openExecutable(exe, want[:], sums)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if sums.hashed != 1 || sums.hits != 2 {
		t.Errorf("the launch hashed again: %d sums, %d found", sums.hashed, sums.hits)
	}
}
