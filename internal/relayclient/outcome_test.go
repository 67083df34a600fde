package relayclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// The outcome the relay's Direct computed travels on the wire and is the
// CommandResult's: the use cases read it and classify nothing again.
func TestRunCommand_OutcomeFromTheWire(t *testing.T) {
	for _, want := range []labstation.Outcome{labstation.OutcomeCompleted, labstation.OutcomeWarnings, labstation.OutcomeFailed} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// exit code 0 whatever the outcome: the client must not classify it.
			_ = json.NewEncoder(w).Encode(relayproto.CommandResponse{ExitCode: 0, Stdout: "ok", Outcome: int(want)})
		}))
		c := &relayclient.Client{URL: srv.URL, Secret: []byte("secret"), HTTP: srv.Client()}
		res, err := c.RunCommand(context.Background(), hosts.Host{Name: "lab-ws-01"}, "status", nil, lab.CommandOptions{})
		srv.Close()
		if err != nil || res.Outcome != want || res.Stdout != "ok" {
			t.Errorf("outcome %v: got %+v, %v", want, res, err)
		}
	}
}
