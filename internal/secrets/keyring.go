package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of an OPS_SECRETS_KEY once decoded: 32 bytes, as a
// Fernet key (the older worker's key) is.
const KeySize = 32

// The HKDF labels. The GCM key is derived rather than taken raw so the
// same OPS_SECRETS_KEY bytes, which Fernet (the older worker's files)
// splits into HMAC and AES keys, are never used directly by two ciphers.
const (
	sealInfo  = "ops-worker credential store v1"
	keyIDInfo = "ops-worker key id v1"
)

const nonceSize = 12

// ParseKey decodes a key given as URL-safe or standard base64, padded or
// not, of exactly KeySize bytes. Its error never holds the text: a typo in
// a key is still most of the key.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("key is empty")
	}
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		b, err := enc.DecodeString(text)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("key decodes to %d bytes, want %d (32 bytes in base64, as a Fernet key)", len(b), KeySize)
		}
		return b, nil
	}
	return nil, fmt.Errorf("key is not base64 (%d characters; want 32 bytes in URL-safe or standard base64, as a Fernet key)", len(text))
}

// key is one derived key.
type key struct {
	id   string
	aead cipher.AEAD
}

// Keyring seals under its current key and opens under the current or any
// previous key, so rows sealed before a key change stay readable until
// they are re-sealed. It is safe for concurrent use.
type Keyring struct {
	current key
	byID    map[string]key
}

// NewKeyring builds a keyring from raw KeySize-byte keys (see ParseKey).
// A previous key equal to the current one is ignored.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	cur, err := derive(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	r := &Keyring{current: cur, byID: map[string]key{cur.id: cur}}
	for i, p := range previous {
		k, err := derive(p)
		if err != nil {
			return nil, fmt.Errorf("previous key %d: %w", i+1, err)
		}
		if _, dup := r.byID[k.id]; !dup {
			r.byID[k.id] = k
		}
	}
	return r, nil
}

func derive(raw []byte) (key, error) {
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("key is %d bytes, want %d", len(raw), KeySize)
	}
	sealKey, err := hkdf.Key(sha256.New, raw, nil, sealInfo, 32)
	if err != nil {
		return key{}, fmt.Errorf("derive key: %w", err)
	}
	idBytes, err := hkdf.Key(sha256.New, raw, nil, keyIDInfo, 8)
	if err != nil {
		return key{}, fmt.Errorf("derive key id: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return key{}, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("gcm: %w", err)
	}
	return key{id: hex.EncodeToString(idBytes), aead: aead}, nil
}

// CurrentID is the id of the key Seal uses: 16 hex characters, derived
// from the key (stable across processes, not secret).
func (r *Keyring) CurrentID() string { return r.current.id }

// Has reports whether the keyring can open rows sealed under id.
func (r *Keyring) Has(id string) bool {
	_, ok := r.byID[id]
	return ok
}

// IDs lists the current key id first, then the previous ones (unordered).
func (r *Keyring) IDs() []string {
	out := []string{r.current.id}
	for id := range r.byID {
		if id != r.current.id {
			out = append(out, id)
		}
	}
	return out
}

// Seal encrypts plain under the current key, binding aad (which is not
// stored: Open needs the same). sealed is the 12-byte random nonce
// followed by the GCM ciphertext and tag.
func (r *Keyring) Seal(plain, aad []byte) (keyID string, sealed []byte, err error) {
	nonce := make([]byte, nonceSize, nonceSize+len(plain)+r.current.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return r.current.id, r.current.aead.Seal(nonce, nonce, plain, aad), nil
}

// ErrUnknownKey is wrapped by Open for a key id the keyring lacks.
var ErrUnknownKey = errors.New("unknown key id")

// ErrAuth is wrapped by Open when the sealed bytes do not authenticate
// (another key with the same id is impossible; a damaged row, or one
// copied under another reference, is not).
var ErrAuth = errors.New("sealed value does not authenticate")

// Open decrypts what Seal gave under keyID with the same aad.
func (r *Keyring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	k, ok := r.byID[keyID]
	if !ok {
		return nil, fmt.Errorf("%w %q: not in OPS_SECRETS_KEY / OPS_SECRETS_PREVIOUS_KEYS", ErrUnknownKey, keyID)
	}
	if len(sealed) < nonceSize+k.aead.Overhead() {
		return nil, fmt.Errorf("open under key %s: %w (%d bytes, too short)", keyID, ErrAuth, len(sealed))
	}
	plain, err := k.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("open under key %s: %w (damaged, or sealed for another reference)", keyID, ErrAuth)
	}
	return plain, nil
}
