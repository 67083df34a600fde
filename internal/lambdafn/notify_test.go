package lambdafn_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/lambdafn"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

// heldSink answers each request after hold is closed (nil: at once) and
// counts the requests it has answered.
type heldSink struct {
	srv      *httptest.Server
	hold     chan struct{}
	arrived  atomic.Int32
	answered atomic.Int32
}

func newHeldSink(t *testing.T, hold chan struct{}) *heldSink {
	t.Helper()
	s := &heldSink{hold: hold}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.arrived.Add(1)
		if s.hold != nil {
			select {
			case <-s.hold:
			case <-r.Context().Done():
			}
		}
		s.answered.Add(1)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// failingWinRM is a world whose station answers status with exit code 3
// (a failed command), with the webhook at sink.
func failingWinRM(t *testing.T, sink *heldSink, extra map[string]string) twin {
	t.Helper()
	env := map[string]string{"OPS_WEBHOOK_URL": sink.srv.URL + "/hook"}
	for k, v := range extra {
		env[k] = v
	}
	w := newWorldOf(t, []labsim.HostOptions{{Name: "lab-ws-01"}}, env)
	w.sim.Host("lab-ws-01").SetFaults(labsim.Faults{ExitCodes: map[string]int{"status": 3}})
	localServer(t, w) // applies the migrations the function skips
	return w
}

var statusCall = call{method: "POST", path: "/api/winrm", body: `{"host": "lab-ws-01", "command": "status"}`, token: true}

// TestFunction_FlushesNotifications: a Lambda invocation whose command
// failed answers only once its notification is sent (Lambda freezes the
// process after the answer); with a sink that does not answer, it answers
// after OPS_NOTIFY_FLUSH_WAIT with the notification still queued, and
// says so in the log.
func TestFunction_FlushesNotifications(t *testing.T) {
	build := func(t *testing.T, w twin) (*lambdafn.Function, *logtest.Buffer) {
		cfg, err := config.LoadMap(t.Context(), w.env)
		if err != nil {
			t.Fatal(err)
		}
		var logs logtest.Buffer
		f, err := lambdafn.New(t.Context(), cfg, "winrm", &logs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.App.Close() })
		return f, &logs
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-n"})

	t.Run("sent before the answer", func(t *testing.T) {
		sink := newHeldSink(t, nil)
		f, _ := build(t, failingWinRM(t, sink, nil))
		resp, err := f.Handler(ctx, statusCall.event())
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("invoke: %d %v", resp.StatusCode, err)
		}
		if sink.answered.Load() != 1 || f.App.Notifier().Pending() != 0 {
			t.Errorf("at the answer: sink answered %d, pending %d; want 1 and 0", sink.answered.Load(), f.App.Notifier().Pending())
		}
	})
	t.Run("bounded by the flush wait", func(t *testing.T) {
		hold := make(chan struct{})
		sink := newHeldSink(t, hold)
		f, logs := build(t, failingWinRM(t, sink, map[string]string{"OPS_NOTIFY_FLUSH_WAIT": "1", "OPS_NOTIFY_TIMEOUT": "60"}))
		// Before the function's Close (cleanups run last first), whose
		// drain then finds the sink answering.
		t.Cleanup(func() { close(hold) })
		resp, err := f.Handler(ctx, statusCall.event())
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("invoke: %d %v", resp.StatusCode, err)
		}
		if sink.answered.Load() != 0 || f.App.Notifier().Pending() != 1 {
			t.Errorf("at the answer: sink answered %d, pending %d; want 0 and 1", sink.answered.Load(), f.App.Notifier().Pending())
		}
		if !strings.Contains(logs.String(), "notifications left queued at the end of the invocation") ||
			!strings.Contains(logs.String(), `"aws_request_id":"lambda-req-n"`) {
			t.Errorf("log: %s", logs)
		}
	})
}

// TestRIE_NotificationFlushed: the built winrm function under the
// emulator answers a failed command only after its webhook was answered.
// (The emulator does not freeze the process after an invocation as Lambda
// does, so what a frozen instance would do with a notification still
// queued is not observable here: see FlushNotifications.)
func TestRIE_NotificationFlushed(t *testing.T) {
	rieBinary(t)
	hold := make(chan struct{})
	sink := newHeldSink(t, hold)
	w := failingWinRM(t, sink, nil)
	e := startRIE(t, "winrm", w.env)
	// The sink holds the webhook until the test lets it go: the answer
	// cannot come before that unless the function did not wait.
	go func() {
		for sink.arrived.Load() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		close(hold)
	}()
	got := e.do(t, statusCall)
	if got.Status != 200 {
		t.Fatalf("invoke: %+v", got)
	}
	if sink.answered.Load() != 1 {
		t.Errorf("the function answered before its notification was sent (sink answered %d)", sink.answered.Load())
	}
}
