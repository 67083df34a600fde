package fernet_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/fernet/fernettest"
)

// pythonTokens makes a fresh key and, for each plaintext, a token from
// Python's Fernet.encrypt (random IV, current time) and one from
// _encrypt_from_parts with a fixed time and IV, to compare byte for byte.
const pythonTokens = `
import base64, json, sys
from cryptography.fernet import Fernet
key = Fernet.generate_key()
f = Fernet(key)
plains = [base64.b64decode(p) for p in json.loads(sys.argv[1])]
print(json.dumps({
    "key": key.decode(),
    "tokens": [f.encrypt(p).decode() for p in plains],
    "fixed": [f._encrypt_from_parts(p, 1700000000, bytes(range(16))).decode() for p in plains],
}))
`

// pythonDecrypt decrypts, with the key in argv[1], each token of argv[2].
const pythonDecrypt = `
import base64, json, sys
from cryptography.fernet import Fernet
f = Fernet(sys.argv[1].encode())
print(json.dumps([base64.b64encode(f.decrypt(t.encode())).decode() for t in json.loads(sys.argv[2])]))
`

func TestInterop_Python(t *testing.T) {
	plains := [][]byte{{}, []byte("a"), bytes.Repeat([]byte("b"), 15), bytes.Repeat([]byte("c"), 16),
		bytes.Repeat([]byte("d"), 17), []byte(`{"user": "lab\\admin", "password": "p\u00e4ss w\u00f6rd \"q\""}`),
		bytes.Repeat([]byte{0, 0xff}, 700)}
	arg, _ := json.Marshal(plains) // []byte marshals as standard base64
	var got struct {
		Key    string   `json:"key"`
		Tokens []string `json:"tokens"`
		Fixed  []string `json:"fixed"`
	}
	if err := json.Unmarshal(fernettest.Run(t, pythonTokens, string(arg)), &got); err != nil {
		t.Fatal(err)
	}
	key, err := fernet.ParseKey(got.Key)
	if err != nil {
		t.Fatalf("ParseKey(Python's generate_key): %v", err)
	}
	now := time.Now()
	var ours []string
	for i, p := range plains {
		plain, err := fernet.Decrypt(key, got.Tokens[i], now, time.Hour)
		if err != nil || !bytes.Equal(plain, p) {
			t.Errorf("Python token %d: Decrypt = %q, %v, want %q", i, plain, err, p)
		}
		token, err := fernet.Encrypt(key, p, time.Unix(1_700_000_000, 0), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		if err != nil {
			t.Fatal(err)
		}
		if token != got.Fixed[i] {
			t.Errorf("plaintext %d: Encrypt = %s, Python %s", i, token, got.Fixed[i])
		}
		ours = append(ours, token)
	}
	// And Python reads what Go writes.
	arg, _ = json.Marshal(ours)
	var back []string
	if err := json.Unmarshal(fernettest.Run(t, pythonDecrypt, got.Key, string(arg)), &back); err != nil {
		t.Fatal(err)
	}
	for i, b := range back {
		if p, _ := base64.StdEncoding.DecodeString(b); !bytes.Equal(p, plains[i]) {
			t.Errorf("Python decrypted Go token %d to %q, want %q", i, p, plains[i])
		}
	}
	// A Python token under another Python key: refused as any bad token.
	var other struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(fernettest.Run(t, pythonTokens, "[]"), &other); err != nil {
		t.Fatal(err)
	}
	otherKey, err := fernet.ParseKey(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fernet.Decrypt(otherKey, got.Tokens[1], now, 0); !errors.Is(err, fernet.ErrInvalidToken) {
		t.Errorf("token under another key: %v, want ErrInvalidToken", err)
	}
}
