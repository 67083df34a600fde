package winrm

import (
	"bytes"
	"testing"
	"time"
)

// A malformed encrypted answer must give an error, never a panic
// (masterzen's decryptResponse indexes without checks).
func TestDecryptBody_Malformed(t *testing.T) {
	bodies := [][]byte{
		nil,
		[]byte("garbage"),
		[]byte(encBoundary + "\r\n"),
		[]byte(encBoundary + "\r\n\tContent-Type: x\r\n"),
		[]byte(encBoundary + "\r\nhdr\r\n" + encBoundary + "\r\n" + encOctetHeader + "ab"),
		[]byte(encBoundary + "\r\nLength=5\r\n" + encBoundary + "\r\n" + encOctetHeader + "\xff\xff\xff\x7fabc"),
		[]byte(encBoundary + "\r\nLength=x\r\n" + encBoundary + "\r\n" + encOctetHeader + "\x10\x00\x00\x00abc"),
		bytes.Repeat([]byte(encBoundary+"\r\n"), 3),
	}
	for i, b := range bodies {
		if _, err := decryptBody(nil, b); err == nil {
			t.Errorf("body %d: no error", i)
		}
	}
}

func TestWSManDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{20 * time.Second: "PT20S", 1500 * time.Millisecond: "PT1.5S"} {
		if got := wsmanDuration(d); got != want {
			t.Errorf("wsmanDuration(%d) = %q, want %q", d, got, want)
		}
	}
}
