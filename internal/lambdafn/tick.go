package lambdafn

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/scheduler"
	"github.com/ops-worker/ops-worker/internal/telemetry"
)

// Tick kinds a tick function runs (StartTick's argument).
const (
	TickHeartbeats   = "heartbeats"
	TickReservations = "reservations"
)

// TickResult is what one invocation of a tick function answers: the
// summary of each tick it ran (scheduler.HeartbeatSummary or
// scheduler.ReservationSummary), in order.
type TickResult struct {
	Tick    string `json:"tick"`
	Ticks   []any  `json:"ticks"`
	Errors  int    `json:"errors"`
	EveryMs int64  `json:"everyMs"`
}

// TickFunction is one built tick function: its worker and its Lambda
// handler, which takes EventBridge's scheduled event.
type TickFunction struct {
	App *app.App
	// Kind is TickHeartbeats or TickReservations.
	Kind string
	// Every is the tick interval (OPS_POLL_INTERVAL or
	// OPS_RESERVATION_SCAN_INTERVAL) and N the ticks one invocation runs,
	// Every apart: EventBridge's finest rate is one minute, so an interval
	// under it is served by several ticks per invocation (scheduler.TicksPer).
	Every time.Duration
	N     int
	// Enabled is the tick's switch, Switch its variable: OPS_POLL_ENABLED
	// or OPS_RESERVATION_AUTOMATION (template.yaml sets it true on the
	// function; false makes each invocation a logged no-op, without a
	// redeploy).
	Enabled bool
	Switch  string

	flushWait time.Duration // OPS_NOTIFY_FLUSH_WAIT (FlushNotifications)
}

// NewTick builds the tick function of kind from cfg, logging JSON to out
// (nil: os.Stdout) and writing one CloudWatch EMF line per tick there
// (app.Options.Observers.Ticks). Like the HTTP functions: no embedded
// database, a pool of 2, opened lazily, no migrations.
func NewTick(ctx context.Context, cfg config.Config, kind string, out io.Writer) (*TickFunction, error) {
	var (
		every   time.Duration
		enabled bool
		swtch   string
	)
	switch kind {
	case TickHeartbeats:
		every, enabled, swtch = cfg.PollInterval(), cfg.PollEnable, "OPS_POLL_ENABLED"
	case TickReservations:
		every, enabled, swtch = cfg.ScanInterval(), cfg.ReservationAutomation, "OPS_RESERVATION_AUTOMATION"
	default:
		return nil, fmt.Errorf("unknown tick %q (want %s or %s)", kind, TickHeartbeats, TickReservations)
	}
	o := Options(cfg, "", out)
	o.Observers.Ticks = &telemetry.EMFWriter{W: stdout(out)}
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &TickFunction{App: a, Kind: kind, Every: every, N: scheduler.TicksPer(scheduler.EventBridgeRate, every),
		Enabled: enabled, Switch: swtch, flushWait: cfg.NotifyFlushWait()}, nil
}

// Handle runs N ticks, Every apart, for one scheduled event, stopping
// early at the invocation's deadline. The error joins the ticks' errors
// (each tick's own EMF line says Errors 1 too): Lambda then counts the
// invocation failed. A retry that EventBridge's asynchronous invocation
// makes is harmless: the claims dispatch each due phase once.
func (f *TickFunction) Handle(ctx context.Context, ev events.EventBridgeEvent) (TickResult, error) {
	sev := scheduler.Event{ID: ev.ID, Source: ev.Source, DetailType: ev.DetailType, Time: ev.Time}
	if sev.Source == "" {
		sev.Source = "lambda"
	}
	res := TickResult{Tick: f.Kind, Ticks: []any{}, EveryMs: f.Every.Milliseconds()}
	if !f.Enabled {
		f.App.Logger().WarnContext(ctx, "tick switched off: nothing done", "tick", f.Kind, "switch", f.Switch)
		return res, nil
	}
	sch := f.App.Scheduler()
	tick := func(ctx context.Context) (any, error) {
		if f.Kind == TickHeartbeats {
			return sch.HeartbeatTick(ctx, sev)
		}
		return sch.ReservationTick(ctx, sev)
	}
	sums, err := scheduler.Repeat(ctx, f.N, f.Every, func(ctx context.Context) (any, error) {
		s, err := tick(ctx)
		if err != nil {
			res.Errors++
		}
		return s, err
	})
	res.Ticks = append(res.Ticks, sums...)
	FlushNotifications(ctx, f.App, f.flushWait)
	return res, err
}

// StartTick is the main of a tick function (functions/tick-heartbeats,
// functions/tick-reservations), fired by an EventBridge Schedule event
// (template.yaml, rate(1 minute)). A failed cold start ends the process
// with status 1, as Start does.
func StartTick(kind string) {
	name := "tick-" + kind
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	cfg, err := config.Load(ctx)
	if err != nil {
		fail(name, err)
	}
	f, err := NewTick(ctx, cfg, kind, os.Stdout)
	cancel()
	if err != nil {
		fail(name, err)
	}
	lambda.Start(f.Handle)
}
