package relay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// The relay writes the flag at its own catalog's path for the host: the
// request names a host only. A host outside the catalog, a body with a
// path in it are refused before a station is touched (RELAY_LOCAL_MODE=false:
// relay/cmd/ops-relay's TestMain_LocalModeOff).
func TestRelay_LocalMode(t *testing.T) {
	e := start(t, secretNew)
	c := e.client(secretNew)
	ctx := context.Background()
	sh := e.sim.Host("lab-ws-01")
	for _, on := range []bool{true, false, false} {
		if err := c.SetLocalMode(ctx, worker("lab-ws-01"), on); err != nil {
			t.Fatalf("SetLocalMode(%v): %v", on, err)
		}
		if sh.LocalMode() != on {
			t.Errorf("SetLocalMode(%v): station flag %v", on, sh.LocalMode())
		}
	}
	if !strings.Contains(e.logs.String(), `"action":"local-mode"`) || !strings.Contains(e.logs.String(), `"enabled":true`) {
		t.Errorf("no local-mode audit line:\n%s", e.logs)
	}

	if err := c.SetLocalMode(ctx, worker("lab-ws-99"), true); !errors.Is(err, lab.ErrConfig) {
		t.Errorf("host outside the catalog: %v, want lab.ErrConfig", err)
	}
	before := len(sh.Commands())
	status, body := e.send(t, rawReq{method: "POST", path: relayproto.PathLocalMode,
		body: []byte(`{"host":"lab-ws-01","enabled":true,"path":"C:\\Windows\\System32\\x"}`)})
	if status != http.StatusBadRequest || !strings.Contains(body, relayproto.KindBadRequest) {
		t.Errorf("a body naming a path: %d %s, want 400 bad_request", status, body)
	}

	if n := len(sh.Commands()) - before; n != 0 || sh.LocalMode() {
		t.Errorf("refused requests reached the station: %d commands, flag %v", n, sh.LocalMode())
	}
}
