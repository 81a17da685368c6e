package routertest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The RouterOS API wire format: a sentence is a sequence of words ended by a
// zero-length word; a word is its length, encoded in 1 to 5 bytes, followed
// by that many bytes:
//
//	length < 0x80        1 byte   0xxxxxxx
//	length < 0x4000      2 bytes  10xxxxxx + 1 byte  (length | 0x8000)
//	length < 0x200000    3 bytes  110xxxxx + 2 bytes (length | 0xC00000)
//	length < 0x10000000  4 bytes  1110xxxx + 3 bytes (length | 0xE0000000)
//	otherwise            5 bytes  0xF0 + 4 bytes big-endian length
//
// First bytes 0xF8 and above are reserved (control bytes) and never valid.

// maxWordLen bounds one word the server accepts (a protocol error above it
// closes the connection), so a broken or hostile client cannot make the
// fake allocate gigabytes.
const maxWordLen = 64 << 20

// maxSentenceWords bounds the number of words in one sentence.
const maxSentenceWords = 10000

// errProtocol marks input that is not the RouterOS API wire format.
var errProtocol = errors.New("routeros api protocol error")

// encodeLength returns the RouterOS API encoding of a word length: the
// shortest of the five forms (1 to 5 bytes).
func encodeLength(n int) []byte {
	switch {
	case n < 0:
		panic("routertest: negative word length")
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x4000:
		return []byte{byte(n>>8) | 0x80, byte(n)}
	case n < 0x200000:
		return []byte{byte(n>>16) | 0xC0, byte(n >> 8), byte(n)}
	case n < 0x10000000:
		return []byte{byte(n>>24) | 0xE0, byte(n >> 16), byte(n >> 8), byte(n)}
	case uint64(n) <= 0xFFFFFFFF:
		return []byte{0xF0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	default:
		panic("routertest: word longer than 4 GiB")
	}
}

// readLength reads one encoded word length (any of the five forms, the
// longer ones also when a shorter form would do).
func readLength(r io.ByteReader) (int, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	var extra int
	var n uint64
	switch {
	case b&0x80 == 0:
		return int(b), nil
	case b&0xC0 == 0x80:
		extra, n = 1, uint64(b&0x3F)
	case b&0xE0 == 0xC0:
		extra, n = 2, uint64(b&0x1F)
	case b&0xF0 == 0xE0:
		extra, n = 3, uint64(b&0x0F)
	case b == 0xF0:
		extra, n = 4, 0
	default:
		return 0, fmt.Errorf("%w: control byte 0x%02X where a word length was expected", errProtocol, b)
	}
	for range extra {
		c, err := r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		n = n<<8 | uint64(c)
	}
	return int(n), nil
}

// noEOF turns an EOF in the middle of a word or sentence into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readWord reads one word, refusing words longer than limit.
func readWord(r *bufio.Reader, limit int) (string, error) {
	n, err := readLength(r)
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", fmt.Errorf("%w: word of %d bytes is longer than the %d this server accepts", errProtocol, n, limit)
	}
	if n == 0 {
		return "", nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", noEOF(err)
	}
	return string(b), nil
}

// readSentence reads the words of one sentence, without the zero-length
// word that ends it, refusing words longer than limit. Zero-length
// sentences (a lone empty word) are skipped, as RouterOS does.
func readSentence(r *bufio.Reader, limit int) ([]string, error) {
	var words []string
	for {
		w, err := readWord(r, limit)
		if err != nil {
			if len(words) > 0 {
				err = noEOF(err)
			}
			return nil, err
		}
		if w == "" {
			if len(words) == 0 {
				continue
			}
			return words, nil
		}
		if len(words) >= maxSentenceWords {
			return nil, fmt.Errorf("%w: sentence of more than %d words", errProtocol, maxSentenceWords)
		}
		words = append(words, w)
	}
}

// appendSentence appends the encoding of a sentence (the words, then the
// zero-length word that ends it) to b.
func appendSentence(b []byte, words ...string) []byte {
	for _, w := range words {
		b = append(b, encodeLength(len(w))...)
		b = append(b, w...)
	}
	return append(b, 0)
}
