package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Cipher encrypts secrets at rest (plugin settings' secret fields, router
// passwords) with AES-256-GCM and a key from the configuration. Ciphertexts
// look like "enc:v1:<base64 of nonce and sealed text>".
type Cipher struct {
	aead cipher.AEAD
}

const cipherPrefix = "enc:v1:"

// ErrDecrypt: the ciphertext was made with another key or was changed.
var ErrDecrypt = errors.New("cannot decrypt: the value was encrypted with another key or has been changed")

// NewCipher returns a Cipher for a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead}, nil
}

// Encrypt seals a plaintext. The empty string stays empty.
func (c *Cipher) Encrypt(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := c.aead.Seal(nonce, nonce, []byte(plain), []byte(cipherPrefix))
	return cipherPrefix + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a ciphertext made by Encrypt. The empty string stays empty.
func (c *Cipher) Decrypt(text string) (string, error) {
	if text == "" {
		return "", nil
	}
	b64, ok := strings.CutPrefix(text, cipherPrefix)
	if !ok {
		return "", fmt.Errorf("%w (not an encrypted value)", ErrDecrypt)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < c.aead.NonceSize() {
		return "", ErrDecrypt
	}
	plain, err := c.aead.Open(nil, raw[:c.aead.NonceSize()], raw[c.aead.NonceSize():], []byte(cipherPrefix))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

// IsEncrypted reports whether a value looks like a ciphertext of Encrypt.
func IsEncrypted(v string) bool { return strings.HasPrefix(v, cipherPrefix) }
