package routertest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzWordLimit is the word limit the fuzz reads with: small, so a fuzzed
// length header cannot make each run allocate megabytes, and big enough
// for the two-byte length form.
const fuzzWordLimit = 1 << 10

// FuzzReadSentence reads RouterOS API sentences from fuzzed bytes, as the
// fake router reads what a client sends. Every sentence read holds 1 to
// maxSentenceWords non-empty words within the limit; the stream ends in
// io.EOF only between sentences, in io.ErrUnexpectedEOF inside one, or in
// errProtocol, and in nothing else; and the sentences read, encoded again,
// read back the same and take no more bytes than they came in (the
// encoder writes the shortest length form; empty sentences are dropped).
func FuzzReadSentence(f *testing.F) {
	f.Add(appendSentence(nil, "/login", "=name=admin", "=password=secret"))
	f.Add(appendSentence(appendSentence(nil, "/ip/hotspot/user/print", "?name=a", ".tag=7"), "/cancel", "=tag=7"))
	f.Add(append([]byte{0, 0}, appendSentence(nil, "/system/resource/print")...))
	f.Add(appendSentence(nil, string(bytes.Repeat([]byte("x"), 0x80)), string(bytes.Repeat([]byte("y"), 0x3FFF))))
	f.Add([]byte{0xC0, 0x00, 0x02, 'h', 'i', 0x00})                                 // a two-byte word in the three-byte form
	f.Add([]byte{0xF0, 0x00, 0x00, 0x00, 0x01, '!', 0x00})                          // and in the five-byte form
	f.Add([]byte{0xF0, 0xFF, 0xFF, 0xFF, 0xFF})                                     // 4 GiB announced
	f.Add([]byte{0xF8, 0x00})                                                       // a control byte
	f.Add([]byte{0x05, '/', 'q', 'u'})                                              // cut inside a word
	f.Add(append(appendSentence(nil, "/quit"), 0x06, '/', 'q', 'u', 'i', 't', '!')) // cut after a word
	f.Fuzz(func(t *testing.T, data []byte) {
		counter := &countingReader{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(counter, 16)
		var sentences [][]string
		var err error
		for {
			var words []string
			words, err = readSentence(br, fuzzWordLimit)
			if err != nil {
				break
			}
			if len(words) == 0 || len(words) > maxSentenceWords {
				t.Fatalf("a sentence of %d words", len(words))
			}
			for _, w := range words {
				if w == "" || len(w) > fuzzWordLimit {
					t.Fatalf("a word of %d bytes (limit %d)", len(w), fuzzWordLimit)
				}
			}
			sentences = append(sentences, words)
		}
		switch {
		case errors.Is(err, io.EOF):
			if rest := br.Buffered(); rest != 0 || counter.n != len(data) {
				t.Fatalf("io.EOF with %d bytes left", len(data)-counter.n+rest)
			}
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errProtocol):
		default:
			t.Fatalf("readSentence failed with %v (%T); want io.EOF, io.ErrUnexpectedEOF or errProtocol", err, err)
		}

		var encoded []byte
		for _, s := range sentences {
			encoded = appendSentence(encoded, s...)
		}
		if len(encoded) > len(data) {
			t.Fatalf("the %d sentences read encode to %d bytes, more than the %d they came from", len(sentences), len(encoded), len(data))
		}
		again := bufio.NewReader(bytes.NewReader(encoded))
		for i, want := range sentences {
			got, err := readSentence(again, fuzzWordLimit)
			if err != nil {
				t.Fatalf("sentence %d, encoded again, does not read: %v", i, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("sentence %d reads otherwise once encoded again (-first +again):\n%s", i, diff)
			}
		}
		if _, err := readSentence(again, fuzzWordLimit); !errors.Is(err, io.EOF) {
			t.Fatalf("after the sentences encoded again: %v, want io.EOF", err)
		}
	})
}

// FuzzLength round-trips word lengths: readLength reads every length
// encodeLength writes, in the shortest form, and the longer forms too.
func FuzzLength(f *testing.F) {
	for _, n := range []uint32{0, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 0xFFFFFFF, 0x10000000, 0xFFFFFFFF} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n uint32) {
		enc := encodeLength(int(n))
		got, err := readLength(bufio.NewReader(bytes.NewReader(enc)))
		if err != nil || got != int(n) {
			t.Fatalf("readLength(% X) = %d, %v; want %d", enc, got, err, n)
		}
		// The five-byte form holds every length.
		long := []byte{0xF0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		if got, err := readLength(bufio.NewReader(bytes.NewReader(long))); err != nil || got != int(n) {
			t.Fatalf("readLength(% X) = %d, %v; want %d", long, got, err, n)
		}
		for cut := range len(enc) - 1 {
			if _, err := readLength(bufio.NewReader(bytes.NewReader(enc[:cut+1]))); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("readLength of the first %d of % X: %v, want io.ErrUnexpectedEOF", cut+1, enc, err)
			}
		}
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
