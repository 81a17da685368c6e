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
