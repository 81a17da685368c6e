package marketplace

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// metadataTimeout bounds one metadata download.
const metadataTimeout = 30 * time.Second

// copyBuffer is the buffer of an archive's download: fewer, larger writes.
const copyBuffer = 256 << 10

// stallTimeout: a download that receives nothing for this long is cut (and
// resumed, as any cut download).
var stallTimeout = time.Minute

// errStalled cuts a download that stopped moving.
var errStalled = errors.New("no data for a minute")

// httpFetcher downloads over http(s) and file:// URLs. It is the TUF
// updater's fetcher (DownloadFile, for metadata) and downloads the
// archives (download, resumable, with progress).
type httpFetcher struct {
	client *http.Client
}

var _ fetcher.Fetcher = (*httpFetcher)(nil)

// newFetcher makes a fetcher on client (a client of its own when nil) that
// also reads file:// URLs, from disk, never through client's transport.
func newFetcher(client *http.Client) *httpFetcher {
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = fileOrNet{file: http.NewFileTransport(http.Dir("/")), next: next}
	return &httpFetcher{client: &c}
}

// fileOrNet reads file:// URLs from disk and hands the others to next.
type fileOrNet struct{ file, next http.RoundTripper }

func (t fileOrNet) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "file" {
		return t.file.RoundTrip(r)
	}
	return t.next.RoundTrip(r)
}

// DownloadFile is fetcher.Fetcher's: the whole file at url, at most
// maxLength bytes.
func (f *httpFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), metadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than the %d expected", url, resp.ContentLength, maxLength)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is more than the %d bytes expected", url, maxLength)}
	}
	return data, nil
}

// errStatus is a download answered with an HTTP error status: not worth
// retrying.
type errStatus struct {
	url  string
	code int
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("download %s: HTTP %d %s", e.url, e.code, http.StatusText(e.code))
}

// download brings url into the file part, appending to what part holds
// already (an HTTP Range request; a server that answers the whole file
// starts it over), never past length bytes, and hashes every byte of part
// into d as it goes (the bytes kept from before first). progress, when set,
// hears the bytes in part. A cut connection returns an error and leaves
// part as far as it came.
func (f *httpFetcher) download(ctx context.Context, url, part string, length int64, d *digest, progress pluginstall.Progress) error {
	d.Reset()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	have := info.Size()
	if have > length {
		have = 0
	}
	if have == length && length > 0 {
		_, err := io.Copy(d, file)
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0 && strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)):
		_, total, _ := strings.Cut(resp.Header.Get("Content-Range"), "/")
		if n, err := strconv.ParseInt(total, 10, 64); err == nil && n != length {
			file.Truncate(0)
			return fmt.Errorf("%w: %s is %d bytes, the signed target %d", ErrVerify, url, n, length)
		}
	case resp.StatusCode == http.StatusOK:
		have = 0
		if resp.ContentLength >= 0 && resp.ContentLength != length {
			return fmt.Errorf("%w: %s is %d bytes, the signed target %d", ErrVerify, url, resp.ContentLength, length)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The partial file is not a prefix of this one: start over.
		if err := file.Truncate(0); err != nil {
			return err
		}
		return fmt.Errorf("download %s: the server refused to resume; starting over", url)
	default:
		return &errStatus{url: url, code: resp.StatusCode}
	}
	if err := file.Truncate(have); err != nil {
		return err
	}
	// The bytes kept are hashed again: what counts is the whole file.
	if _, err := io.Copy(d, io.NewSectionReader(file, 0, have)); err != nil {
		return err
	}
	if _, err := file.Seek(have, io.SeekStart); err != nil {
		return err
	}
	w := io.MultiWriter(file, d)
	report := func(done, total int64) { stall.Reset(stallTimeout) }
	if progress != nil {
		progress(have, length)
		report = func(done, total int64) {
			stall.Reset(stallTimeout)
			progress(done, total)
		}
	}
	w = &progressWriter{w: w, done: have, total: length, report: report}
	n, err := io.CopyBuffer(w, io.LimitReader(resp.Body, length-have+1), make([]byte, copyBuffer))
	if have+n > length {
		file.Truncate(0)
		return fmt.Errorf("%w: %s is longer than the signed target's %d bytes", ErrVerify, url, length)
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			err = cause
		}
		return fmt.Errorf("download %s: cut at %d of %d bytes: %w", url, have+n, length, err)
	}
	if have+n < length {
		return fmt.Errorf("download %s: cut at %d of %d bytes: %w", url, have+n, length, io.ErrUnexpectedEOF)
	}
	// No fsync: a file cut by a crash is verified as a whole (and
	// dropped) before anything is unpacked.
	return nil
}

// progressWriter tells report how far a download is.
type progressWriter struct {
	w           io.Writer
	done, total int64
	report      pluginstall.Progress
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.report(p.done, p.total)
	return n, err
}

// digest hashes a download with every algorithm its signed target names,
// and counts its bytes.
type digest struct {
	tf     *metadata.TargetFiles
	hashes map[string]hash.Hash
	n      int64
}

// newDigest is a digest for tf: sha256 and sha512 are known; a target
// naming any other (or none) is refused, never half checked.
func newDigest(tf *metadata.TargetFiles) (*digest, error) {
	if len(tf.Hashes) == 0 {
		return nil, fmt.Errorf("%w: target %s has no hashes", ErrVerify, tf.Path)
	}
	d := &digest{tf: tf, hashes: map[string]hash.Hash{}}
	for alg := range tf.Hashes {
		switch alg {
		case "sha256":
			d.hashes[alg] = sha256.New()
		case "sha512":
			d.hashes[alg] = sha512.New()
		default:
			return nil, fmt.Errorf("%w: target %s uses hash %q, which this host does not know", ErrVerify, tf.Path, alg)
		}
	}
	return d, nil
}

func (d *digest) Write(p []byte) (int, error) {
	for _, h := range d.hashes {
		h.Write(p)
	}
	d.n += int64(len(p))
	return len(p), nil
}

// Reset forgets what was written.
func (d *digest) Reset() {
	for _, h := range d.hashes {
		h.Reset()
	}
	d.n = 0
}

// check compares what was written with the signed target: the length,
// then every hash.
func (d *digest) check() error {
	if d.n != d.tf.Length {
		return fmt.Errorf("%w: %s is %d bytes, the signed target %d", ErrVerify, d.tf.Path, d.n, d.tf.Length)
	}
	for alg, h := range d.hashes {
		if got := h.Sum(nil); string(got) != string(d.tf.Hashes[alg]) {
			return fmt.Errorf("%w: %s's %s is %x, the signed target's %x: the archive was altered or is not this target", ErrVerify, d.tf.Path, alg, got, []byte(d.tf.Hashes[alg]))
		}
	}
	return nil
}

// retryable reports whether a failed download is worth another attempt
// (resuming): not when the server said no or the context ended.
func retryable(ctx context.Context, err error) bool {
	var st *errStatus
	return ctx.Err() == nil && !errors.As(err, &st) && !errors.Is(err, ErrVerify)
}
