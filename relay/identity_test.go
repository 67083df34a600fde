package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/relaytest"
)

// recorder keeps a copy of every request a relay client sends.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

func (rc *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), body})
	rc.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// resend sends a recorded request again, headers and body as they were,
// to base.
func resend(t *testing.T, base string, rq recorded) (int, relayproto.Error) {
	t.Helper()
	req, err := http.NewRequest(rq.method, base+rq.path, bytes.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = rq.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e relayproto.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

// Issue 15 item 4: two relays, even sharing a secret (one OPS_RELAY_SECRET
// for both, as before per-relay secrets), refuse each other's requests: a
// request signed for relay A is refused by relay B, and the worker's
// genuine request to A replayed to B is refused, with nothing reaching a
// station.
func TestRelay_SignedForAnotherRelayRefused(t *testing.T) {
	a := start(t, secretNew) // http://127.0.0.1:port: answers to 127.0.0.1 (loopback, no RELAY_ID)
	doc, err := a.sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	rb := relaytest.Start(t, doc, secretNew)
	rb.Server().Verifier.Relays = []string{"localhost"} // RELAY_ID=localhost
	urlB := strings.Replace(rb.URL, "127.0.0.1", "localhost", 1)
	ctx := context.Background()

	rec := &recorder{}
	ca := &relayclient.Client{URL: a.url, Secret: []byte(secretNew), HTTP: &http.Client{Transport: rec}}
	if _, err := ca.RunCommand(ctx, worker("lab-ws-01"), "status", nil, lab.CommandOptions{}); err != nil {
		t.Fatalf("genuine command to relay A: %v", err)
	}
	cb := &relayclient.Client{URL: urlB, Secret: []byte(secretNew)}
	if err := cb.Ping(ctx); err != nil {
		t.Fatalf("relay B by its own name: %v", err)
	}
	before := a.sim.Host("lab-ws-01").HTTPRequests()
	cmds := len(a.sim.Host("lab-ws-01").Commands())

	// The genuine request, replayed to B within its window (by IP or by
	// name, it is B either way).
	genuine := rec.reqs[0]
	for _, base := range []string{urlB, rb.URL} {
		code, e := resend(t, base, genuine)
		if code != http.StatusUnauthorized || e.Kind != relayproto.KindSignature || !strings.Contains(e.Message, `signed for relay "127.0.0.1"`) {
			t.Errorf("replay to relay B (%s): %d %+v, want 401 signed for another relay", base, code, e)
		}
	}
	// Signed for A with the shared secret, sent to B.
	code, body := a.send(t, rawReq{method: "POST", path: relayproto.PathCommand, url: urlB, relay: "127.0.0.1",
		body: mustJSON(relayproto.CommandRequest{Host: "lab-ws-01", Command: "status", Args: []string{}})})
	if code != http.StatusUnauthorized || !strings.Contains(body, "this relay is localhost") {
		t.Errorf("signed for A, sent to B: %d %s", code, body)
	}
	// B's client, pointed at B by A's name, is refused too: the worker
	// signs for the host it dials.
	if err := (&relayclient.Client{URL: rb.URL, Secret: []byte(secretNew)}).Ping(ctx); !errors.Is(err, lab.ErrConfig) || !strings.Contains(err.Error(), "signed for another relay") {
		t.Errorf("B by another name: %v, want a signature refusal", err)
	}
	// And A refuses its own genuine request the second time.
	if code, e := resend(t, a.url, genuine); code != http.StatusUnauthorized || !strings.Contains(e.Message, "nonce already used") {
		t.Errorf("replay to relay A: %d %+v", code, e)
	}
	if got := a.sim.Host("lab-ws-01").HTTPRequests(); got != before || len(a.sim.Host("lab-ws-01").Commands()) != cmds {
		t.Errorf("labsim received %d WinRM requests from the refused ones", got-before)
	}
}

// Issue 15 item 4: RELAY_ALLOWED_COMMANDS. A command outside the relay's
// list is refused (400, command_not_allowed, the worker's
// ErrCommandNotAllowed) before any station is touched, though the worker
// and the station would run it.
func TestRelay_CommandOutsideRelayList(t *testing.T) {
	e := start(t, secretNew)
	e.relay.AllowedCommands = []string{labstation.CmdStatus, labstation.CmdStatusJSON}
	c := e.client(secretNew)
	ctx := context.Background()
	h := e.sim.Host("lab-ws-01")

	_, err := c.RunCommand(ctx, worker("lab-ws-01"), labstation.CmdPower, []string{labstation.PowerShutdown}, lab.CommandOptions{})
	var ne *labstation.NotAllowedError
	if !errors.Is(err, lab.ErrCommandNotAllowed) || !errors.As(err, &ne) || ne.Command != "power" {
		t.Errorf("power through a relay that allows status only: %v, want ErrCommandNotAllowed naming power", err)
	}
	code, body := e.send(t, rawReq{method: "POST", path: relayproto.PathCommand,
		body: mustJSON(relayproto.CommandRequest{Host: "lab-ws-01", Command: "recovery", Args: []string{}})})
	if code != http.StatusBadRequest || !strings.Contains(body, `"kind":"command_not_allowed"`) {
		t.Errorf("recovery: %d %s, want 400 command_not_allowed", code, body)
	}
	if n := h.HTTPRequests(); n != 0 || len(h.Commands()) != 0 {
		t.Errorf("labsim received %d WinRM requests, commands %+v", n, h.Commands())
	}
	if _, err := c.RunCommand(ctx, worker("lab-ws-01"), labstation.CmdStatus, nil, lab.CommandOptions{}); err != nil {
		t.Errorf("status, in the list: %v", err)
	}
	if len(h.Commands()) != 1 {
		t.Errorf("labsim commands %+v, want status once", h.Commands())
	}
}
