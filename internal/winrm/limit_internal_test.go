package winrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func semCount(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sems)
}

// Many distinct hosts, one after another and at once, leave the limiter
// map empty: an entry lives only while a call holds or waits for a slot.
func TestAcquire_PrunedWhenIdle(t *testing.T) {
	c := New(Config{MaxPerHost: 2})
	ctx := context.Background()
	for i := range 500 {
		release, err := c.acquire(ctx, Target{Name: fmt.Sprintf("lab-ws-%03d", i)}.limitKey())
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				key := Target{Address: fmt.Sprintf("10.0.%d.%d", i%4, j)}.limitKey()
				release, err := c.acquire(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				release()
			}
		}()
	}
	wg.Wait()
	if n := semCount(c); n != 0 {
		t.Errorf("after every call ended the limiter holds %d entries, want 0", n)
	}
}

// The limit is per host: another port, or the name in other case, is the
// same station and shares its 2 slots. A waiter that gives up leaves no
// entry behind.
func TestAcquire_PerHostNotPerPort(t *testing.T) {
	c := New(Config{MaxPerHost: 2})
	ctx := context.Background()
	a := Target{Name: "lab-ws-01", Address: "10.0.0.1", Port: 5986}
	b := Target{Name: "lab-ws-01", Address: "10.0.0.1", Port: 15986}
	other := Target{Name: "LAB-WS-01", Address: "lab-ws-01.lab.example", Port: 443}
	r1, err := c.acquire(ctx, a.limitKey())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.acquire(ctx, b.limitKey())
	if err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.acquire(wait, other.limitKey()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third call to the same host on another port: %v, want to wait for a slot", err)
	}
	if r3, err := c.acquire(ctx, Target{Name: "lab-ws-02", Address: "10.0.0.1"}.limitKey()); err != nil {
		t.Fatalf("another host at the same address: %v", err)
	} else {
		r3()
	}
	r1()
	r2()
	if n := semCount(c); n != 0 {
		t.Errorf("limiter holds %d entries, want 0", n)
	}
	// Without a name, the address is the key, whatever the port.
	if (Target{Address: "10.0.0.9", Port: 1}).limitKey() != (Target{Address: "10.0.0.9", Port: 2}).limitKey() {
		t.Error("nameless targets on two ports of one address have different keys")
	}
}

// A Target printed, logged or marshalled never shows the password.
func TestTarget_NoSecretInOutput(t *testing.T) {
	const secret = "Wr0ngH0rseBattery"
	tg := Target{Name: "lab-ws-01", Address: "10.0.0.1", Port: 5986, UseSSL: true,
		Transport: "ntlm", User: "svc", Password: secret}
	j, err := json.Marshal(tg)
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "t", tg, "p", &tg)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "t", tg, "p", &tg)
	outs := map[string]string{
		"%v": fmt.Sprintf("%v", tg), "%+v": fmt.Sprintf("%+v", tg), "%#v": fmt.Sprintf("%#v", tg), "%s": fmt.Sprintf("%s", tg),
		"%#v ptr": fmt.Sprintf("%#v", &tg), "%+v slice": fmt.Sprintf("%+v", []Target{tg}),
		"json": string(j), "slog text": text.String(), "slog json": js.String(),
	}
	for name, out := range outs {
		if strings.Contains(out, secret) {
			t.Errorf("%s holds the password: %s", name, out)
		}
	}
	if !strings.Contains(outs["%#v"], `Name:"lab-ws-01"`) || !strings.Contains(outs["%#v"], `Password:"[REDACTED]"`) {
		t.Errorf("%%#v = %s", outs["%#v"])
	}
	if !strings.Contains(outs["slog json"], `"name":"lab-ws-01"`) {
		t.Errorf("slog json = %s", outs["slog json"])
	}
}
