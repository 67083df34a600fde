// Package fernet reads and writes Fernet tokens (version 0x80), the format
// the older Python worker sealed its credential files with
// (https://github.com/fernet/spec/blob/master/Spec.md). It exists so the
// worker can import those files; new secrets are sealed by the credential
// store, not here.
//
// A token is the URL-safe base64 of
//
//	version (1 byte, 0x80) | timestamp (8 bytes, big-endian Unix seconds) |
//	IV (16 bytes) | AES-128-CBC ciphertext, PKCS #7 padded | HMAC-SHA256 (32 bytes)
//
// with the HMAC over everything before it. The 32-byte key is the HMAC key
// (first 16 bytes) followed by the AES key (last 16 bytes).
package fernet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// KeySize is the length of a raw Fernet key: 16 bytes of HMAC key and 16
// bytes of AES key.
const KeySize = 32

const (
	version      = 0x80
	headerSize   = 1 + 8 + aes.BlockSize // version, timestamp, IV
	macSize      = sha256.Size
	minTokenSize = headerSize + aes.BlockSize + macSize // one ciphertext block at least
	// maxClockSkew is how far in the future a token's timestamp may be when
	// its age is checked (the spec's and Python cryptography's 60 s).
	maxClockSkew = 60 * time.Second
	// maxTimestamp keeps timestamps where time.Unix and Add cannot
	// overflow; anything later is "far future" anyway.
	maxTimestamp = 1 << 40
)

// ErrInvalidToken is the one error of every token that does not decrypt:
// malformed base64, wrong length or version, a signature that does not
// verify (a wrong key or an altered token), bad padding, an expired or
// far-future timestamp. It holds neither the key nor the plaintext; telling
// the causes apart would only help someone forging tokens.
var ErrInvalidToken = errors.New("fernet: invalid token")

// ErrInvalidKey is returned for a key that is not 32 bytes (raw), or not the
// URL-safe base64 of 32 bytes (text).
var ErrInvalidKey = errors.New("fernet: invalid key: want the URL-safe base64 of 32 bytes")

// ParseKey decodes the text form of a Fernet key (what Python's
// Fernet.generate_key prints and OPS_SECRETS_KEY holds): the URL-safe base64
// of 32 bytes, with or without padding; surrounding white space (a key file's
// final newline) is ignored. The error never echoes the text.
func ParseKey(text string) ([]byte, error) {
	key, err := decodeBase64(strings.TrimSpace(text))
	if err != nil || len(key) != KeySize {
		return nil, ErrInvalidKey
	}
	return key, nil
}

// Decrypt verifies token under key and returns its plaintext. now is the
// current time and ttl the greatest accepted age: with ttl > 0 a token older
// than ttl, or stamped more than a minute after now, is refused; with ttl 0
// the timestamp is not checked (stored credentials do not expire). The
// signature is checked, in constant time, before anything is decrypted.
// Every failure of the token is ErrInvalidToken; a key of the wrong size is
// ErrInvalidKey.
func Decrypt(key []byte, token string, now time.Time, ttl time.Duration) ([]byte, error) {
	if len(key) != KeySize {
		return nil, ErrInvalidKey
	}
	data, err := decodeBase64(token)
	if err != nil || len(data) < minTokenSize || data[0] != version {
		return nil, ErrInvalidToken
	}
	signed, sum := data[:len(data)-macSize], data[len(data)-macSize:]
	mac := hmac.New(sha256.New, key[:16])
	mac.Write(signed)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, ErrInvalidToken
	}
	if ttl > 0 && !fresh(binary.BigEndian.Uint64(data[1:9]), now, ttl) {
		return nil, ErrInvalidToken
	}
	ciphertext := signed[headerSize:]
	if len(ciphertext)%aes.BlockSize != 0 {
		return nil, ErrInvalidToken
	}
	block, err := aes.NewCipher(key[16:])
	if err != nil {
		return nil, fmt.Errorf("fernet: %w", err) // cannot happen: the key half is 16 bytes
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, signed[9:headerSize]).CryptBlocks(plain, ciphertext)
	return unpad(plain)
}

// fresh is the spec's age check, in whole seconds as Python's cryptography
// does it: the token is fresh when timestamp + ttl >= now and timestamp <=
// now + the clock skew.
func fresh(stamp uint64, now time.Time, ttl time.Duration) bool {
	if stamp > maxTimestamp {
		return false
	}
	issued := time.Unix(int64(stamp), 0)
	now = time.Unix(now.Unix(), 0)
	return !issued.Add(ttl).Before(now) && !issued.After(now.Add(maxClockSkew))
}

// unpad removes PKCS #7 padding. The signature was checked first, so the
// padding check gives an attacker nothing (no padding oracle).
func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, ErrInvalidToken
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, ErrInvalidToken
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, ErrInvalidToken
		}
	}
	return b[:len(b)-n], nil
}

// Encrypt seals plaintext under key as a token stamped now, with the given
// 16-byte IV (the caller draws it from crypto/rand; a fixed one is for test
// vectors only). It returns the padded URL-safe base64 text that Python's
// Fernet.encrypt produces.
func Encrypt(key, plaintext []byte, now time.Time, iv []byte) (string, error) {
	if len(key) != KeySize {
		return "", ErrInvalidKey
	}
	if len(iv) != aes.BlockSize {
		return "", fmt.Errorf("fernet: IV is %d bytes, want %d", len(iv), aes.BlockSize)
	}
	if now.Unix() < 0 {
		return "", errors.New("fernet: time before 1970 has no Fernet timestamp")
	}
	block, err := aes.NewCipher(key[16:])
	if err != nil {
		return "", fmt.Errorf("fernet: %w", err)
	}
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	padded := make([]byte, len(plaintext)+n)
	copy(padded, plaintext)
	for i := len(plaintext); i < len(padded); i++ {
		padded[i] = byte(n)
	}
	out := make([]byte, headerSize, headerSize+len(padded)+macSize)
	out[0] = version
	binary.BigEndian.PutUint64(out[1:9], uint64(now.Unix()))
	copy(out[9:headerSize], iv)
	out = append(out, padded...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[headerSize:], out[headerSize:])
	mac := hmac.New(sha256.New, key[:16])
	mac.Write(out)
	out = mac.Sum(out)
	return base64.URLEncoding.EncodeToString(out), nil
}

// decodeBase64 reads URL-safe base64 with its padding, or without it (some
// tools strip the trailing "=").
func decodeBase64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.URLEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
