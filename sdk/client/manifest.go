package client

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// MaxManifestSize is the largest plugin.json the host and the conformance
// kit read: 1 MiB. A manifest is a few KiB even with a large config_schema.
const MaxManifestSize = 1 << 20

// ReadManifestFile reads a plugin's plugin.json for the host and the
// conformance kit alike, within bounds: path must be a regular file (or a
// symbolic link to one) of at most MaxManifestSize bytes. A named pipe, a
// device such as /dev/zero, a directory or a larger file is refused with an
// error that says so, without blocking and without reading more than
// MaxManifestSize+1 bytes. A missing file is an error wrapping
// fs.ErrNotExist.
func ReadManifestFile(path string) ([]byte, error) {
	return ReadRegularFile(path, MaxManifestSize, "a plugin manifest",
		"it is not a plugin's manifest, or it holds far more than one needs")
}

// ReadRegularFile reads a file the host trusts only as far as its bounds:
// path must be a regular file (or a symbolic link to one) of at most limit
// bytes. what names the file in errors ("a plugin manifest"), and tooBigHint
// says what an oversized one likely is. A named pipe is opened without
// blocking and refused, like a device or a directory; no more than limit+1
// bytes are ever read. A missing file is an error wrapping fs.ErrNotExist.
func ReadRegularFile(path string, limit int64, what, tooBigHint string) ([]byte, error) {
	// Non-blocking: opening a named pipe for reading would otherwise wait
	// for a writer, forever.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file; %s must be a regular file", path, fileKind(fi.Mode()), what)
	}
	tooBig := func(size string) error {
		return fmt.Errorf("%s is %s; %s may be at most %d bytes%s: %s", path, size, what, limit, mib(limit), tooBigHint)
	}
	if fi.Size() > limit {
		return nil, tooBig(fmt.Sprintf("%d bytes", fi.Size()))
	}
	// The size can lie (files in /proc say 0): read no more than allowed.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, tooBig("over " + strings.TrimSpace(strings.Trim(mib(limit), "()")))
	}
	return data, nil
}

// mib is " (N MiB)" for a whole number of MiB, else empty.
func mib(n int64) string {
	if n <= 0 || n%(1<<20) != 0 {
		return ""
	}
	return fmt.Sprintf(" (%d MiB)", n>>20)
}

// fileKind names what a file that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return fmt.Sprintf("a special file (mode %s)", m)
	}
}
