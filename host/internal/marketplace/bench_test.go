package marketplace

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkMarketplaceFetch20MB: a 20 MB plugin fetched from a loopback
// marketplace (refresh of the TUF metadata, download, verification of
// length and sha256, safe unpack) against a plain HTTP download of the
// same archive bytes into a file, interleaved in each iteration.
// market/plain is the ratio.
func BenchmarkMarketplaceFetch20MB(b *testing.B) {
	r := newRepo(b)
	payload := make([]byte, 20<<20)
	rand.Read(payload) // incompressible: the archive is about 20 MB too
	pub := publish(b, r, pluginDir(b, "notify-big", "1.0.0", map[string][]byte{"data.bin": payload}), PublishOptions{})
	srv := serve(b, r)
	c := newClient(b, r, srv.url, Options{})
	rel, _ := filepath.Rel(r.RepositoryPath(), archiveFile(r, pub[0]))
	archiveURL := srv.url + "/" + filepath.ToSlash(rel)
	work := b.TempDir()
	ctx := context.Background()
	var market, plain time.Duration
	b.SetBytes(pub[0].Length)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst, _ := os.MkdirTemp(work, "dst")
		start := time.Now()
		if _, err := c.Fetch(ctx, "notify-big", "", dst, nil); err != nil {
			b.Fatal(err)
		}
		market += time.Since(start)
		start = time.Now()
		if err := plainDownload(archiveURL, filepath.Join(work, "plain")); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(start)
		b.StopTimer()
		os.RemoveAll(dst)
		os.Remove(filepath.Join(work, "plain"))
		b.StartTimer()
	}
	b.ReportMetric(float64(market.Microseconds())/float64(b.N)/1000, "market-ms")
	b.ReportMetric(float64(plain.Microseconds())/float64(b.N)/1000, "plain-ms")
	b.ReportMetric(float64(market)/float64(plain), "market/plain")
}

// plainDownload is the baseline: GET url into file.
func plainDownload(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
