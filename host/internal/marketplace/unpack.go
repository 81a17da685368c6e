package marketplace

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits bound what Unpack writes.
type Limits struct {
	// MaxFiles is the most entries (files and folders) an archive may
	// hold. Default 10000.
	MaxFiles int
	// MaxBytes is the most bytes its files may hold together, unpacked.
	// Default 1 GiB.
	MaxBytes int64
}

// DefaultLimits are the limits of a Client that sets none.
var DefaultLimits = Limits{MaxFiles: 10000, MaxBytes: 1 << 30}

func (l Limits) orDefault() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

// Unpack unpacks a gzipped tar into dst, an existing empty folder. It
// takes regular files and folders only: an absolute path, a path with
// "..", a symbolic or hard link (all links are refused, wherever they
// point), a device or any other entry type is an error wrapping
// ErrUnsafeArchive, as are more entries or more bytes than limits allow
// (counted as written, not as the headers claim) and an entry given twice.
// Files keep their execute bit: 0755, others 0644; folders are 0755. On
// an error, dst may hold part of the archive: the caller removes it.
func Unpack(r io.Reader, dst string, limits Limits) error {
	limits = limits.orDefault()
	entries, err := os.ReadDir(dst)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("unpack: %s is not empty", dst)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: not a gzip stream: %v", ErrUnsafeArchive, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	unsafe := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrUnsafeArchive, fmt.Sprintf(format, args...))
	}
	var files int
	var written int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return unsafe("bad tar stream: %v", err)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return unsafe("%v", err)
		}
		files++
		if files > limits.MaxFiles {
			return unsafe("more than %d entries", limits.MaxFiles)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA is how old tars mark a regular file
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
			mode := os.FileMode(0o644)
			if hdr.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if errors.Is(err, os.ErrExist) {
				return unsafe("%s is in the archive twice", name)
			}
			if err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
			n, err := io.Copy(f, io.LimitReader(tr, limits.MaxBytes-written+1))
			cerr := f.Close()
			written += n
			if written > limits.MaxBytes {
				return unsafe("more than %d bytes unpacked", limits.MaxBytes)
			}
			if err != nil || cerr != nil {
				return fmt.Errorf("unpack %s: %w", name, errors.Join(err, cerr))
			}
			// The umask may have taken bits: set the mode as meant.
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
		case tar.TypeSymlink, tar.TypeLink:
			return unsafe("%s is a link (to %q); plugin archives hold regular files and folders only", name, hdr.Linkname)
		default:
			return unsafe("%s is a special file (tar type %q); plugin archives hold regular files and folders only", name, hdr.Typeflag)
		}
	}
}

// entryName checks an archive path: relative, slash-separated, no "..",
// no empty or "." parts beyond a trailing slash, no backslash or NUL.
func entryName(name string) (string, error) {
	trimmed := strings.TrimSuffix(name, "/")
	switch {
	case trimmed == "":
		return "", fmt.Errorf("an entry has an empty name")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name) || (len(name) > 1 && name[1] == ':'):
		return "", fmt.Errorf("%q is an absolute path", name)
	case strings.ContainsAny(name, "\\\x00"):
		return "", fmt.Errorf("%q holds a backslash or NUL", name)
	}
	for _, part := range strings.Split(trimmed, "/") {
		if part == ".." {
			return "", fmt.Errorf("%q leaves the folder (..)", name)
		}
		if part == "" || part == "." {
			return "", fmt.Errorf("%q is not a clean path", name)
		}
	}
	if path.Clean(trimmed) != trimmed {
		return "", fmt.Errorf("%q is not a clean path", name)
	}
	return trimmed, nil
}
