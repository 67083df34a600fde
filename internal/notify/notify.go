// Package notify sends the worker's failure notifications: every failed
// wake or command step (ops.Notifier) and, when one host fails
// repeatedly, one alert, to the gateway's notification service
// (NOTIFICATION_SERVICE_URL, an e-mail relay: {recipients, subject,
// textBody, htmlBody}) and to a generic webhook (OPS_WEBHOOK_URL, the
// versioned JSON body of WebhookBody, optionally signed with HMAC-SHA256).
//
// Notify never blocks the step that failed: it puts the event in a
// bounded queue and returns; one goroutine takes the events in order and
// sends each to its targets at once, with retries and back-off
// (internal/retry), and records each delivery as an operation
// ("notification" or "alert"). A target that is down holds the queue for
// its retries (at the defaults, four tries of up to 10 s and 30 s of
// waits): a burst of failures then overflows the queue and is dropped,
// counted, rather than held in memory without bound. A full queue drops the event, with a log
// line and a metric. Flush waits, bounded, for the queue to empty (a
// Lambda invocation's end); Close drains it, bounded, then stops.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// Defaults of Config's zero fields.
const (
	DefaultRetryAttempts  = 3
	DefaultRetryBackoff   = 5 * time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultQueueSize      = 256
	DefaultAlertThreshold = 3
	DefaultAlertWindow    = 300 * time.Second
	DefaultAlertCooldown  = 900 * time.Second
	// DefaultTokenHeader is the notification service's access-token
	// header (NOTIFICATION_SERVICE_ACCESS_TOKEN_HEADER).
	DefaultTokenHeader = "X-Access-Token"
)

// Targets, as metrics and records name them.
const (
	TargetService = "notification-service"
	TargetWebhook = "webhook"
)

// Outcomes of one event at one target (Observer).
const (
	OutcomeSent    = "sent"
	OutcomeFailed  = "failed"
	OutcomeDropped = "dropped"
)

// Config is what the dispatcher sends where. At least one of ServiceURL
// and WebhookURL is set (New refuses otherwise). Zero durations and
// counts take the defaults above; RetryAttempts < 0 means none.
type Config struct {
	// ServiceURL is NOTIFICATION_SERVICE_URL; Recipients its recipients.
	ServiceURL string
	Recipients []string
	// Token, when set, is sent in TokenHeader (DefaultTokenHeader) to the
	// notification service only.
	Token       string
	TokenHeader string
	// WebhookURL is OPS_WEBHOOK_URL; WebhookSecret, when set, signs each
	// body (SignatureHeader).
	WebhookURL    string
	WebhookSecret string

	// RetryAttempts are the tries after the first (3: four in all);
	// RetryBackoff is the first wait, doubled after each try up to
	// RetryAttempts x RetryBackoff (5, 10, 15 s by default).
	RetryAttempts int
	RetryBackoff  time.Duration
	// Timeout bounds one HTTP request (connect to the last header).
	Timeout time.Duration
	// QueueSize bounds the events waiting to be sent.
	QueueSize int

	// AlertThreshold failures of one host within AlertWindow send one
	// alert; the host then gets no other for AlertCooldown.
	AlertThreshold int
	AlertWindow    time.Duration
	AlertCooldown  time.Duration

	// Now is the clock of the alert windows and of the bodies; nil: time.Now.
	Now func() time.Time
	// Client, when set, sends the requests (tests); nil: a client of our
	// own (TLS verified, no redirects followed, Timeout).
	Client *http.Client
}

// Recorder records a delivery (ops.Store has it).
type Recorder interface {
	RecordOperation(ctx context.Context, op domain.Operation) (int64, error)
}

// Observer counts deliveries (internal/metrics implements it): target is
// TargetService or TargetWebhook, outcome OutcomeSent, OutcomeFailed or
// OutcomeDropped.
type Observer interface {
	ObserveNotification(target, outcome string)
}

// Kinds of event (WebhookBody.Kind, the operation's action).
const (
	KindFailure = "failure"
	KindAlert   = "alert"
)

// job is one event to deliver to every target.
type job struct {
	kind    string
	id      string
	failure domain.Failure
	// failures is the count that triggered an alert.
	failures int
}

// Dispatcher queues and sends the notifications. Safe for concurrent use.
type Dispatcher struct {
	cfg     Config
	rec     Recorder
	obs     Observer
	log     *slog.Logger
	client  *http.Client
	targets []target

	queue  chan job
	alerts alertWindow

	mu      sync.Mutex
	pending int             // queued or being sent
	idle    []chan struct{} // closed when pending drops to 0
	closed  bool

	ctx    context.Context // the sender's; cancelled by Close's deadline
	cancel context.CancelFunc
	done   chan struct{}
}

// target is one configured destination.
type target struct {
	name string
	url  string
	// origin is scheme://host of url: what records and logs may show (a
	// webhook URL often carries its credential in its path).
	origin string
}

// New checks cfg and starts the sender. rec (nil: nothing recorded), obs
// (nil: nothing counted) and log (nil: discarded) may be nil.
func New(cfg Config, rec Recorder, obs Observer, log *slog.Logger) (*Dispatcher, error) {
	cfg = withDefaults(cfg)
	if cfg.ServiceURL == "" && cfg.WebhookURL == "" {
		return nil, fmt.Errorf("notify: no target (NOTIFICATION_SERVICE_URL or OPS_WEBHOOK_URL)")
	}
	d := &Dispatcher{cfg: cfg, rec: rec, obs: obs, log: log, queue: make(chan job, cfg.QueueSize), done: make(chan struct{})}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	for _, t := range []struct{ name, env, url string }{
		{TargetService, "NOTIFICATION_SERVICE_URL", cfg.ServiceURL},
		{TargetWebhook, "OPS_WEBHOOK_URL", cfg.WebhookURL},
	} {
		if t.url == "" {
			continue
		}
		origin, err := CheckURL(t.url)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.env, err)
		}
		d.targets = append(d.targets, target{name: t.name, url: t.url, origin: origin})
	}
	d.client = cfg.Client
	if d.client == nil {
		d.client = newClient(cfg.Timeout)
	}
	d.alerts = alertWindow{threshold: cfg.AlertThreshold, window: cfg.AlertWindow, cooldown: cfg.AlertCooldown,
		failures: map[string][]time.Time{}, lastAlert: map[string]time.Time{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.run()
	return d, nil
}

func withDefaults(c Config) Config {
	if c.RetryAttempts == 0 {
		c.RetryAttempts = DefaultRetryAttempts
	}
	if c.RetryAttempts < 0 {
		c.RetryAttempts = 0
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.RetryBackoff, DefaultRetryBackoff)
	def(&c.Timeout, DefaultTimeout)
	def(&c.AlertWindow, DefaultAlertWindow)
	def(&c.AlertCooldown, DefaultAlertCooldown)
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.AlertThreshold <= 0 {
		c.AlertThreshold = DefaultAlertThreshold
	}
	if c.TokenHeader == "" {
		c.TokenHeader = DefaultTokenHeader
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// CheckURL refuses what a notification target must not be: anything but
// an absolute http or https URL with a host, or one with user info (a
// credential in the URL would reach every log line that names it). It
// returns the URL's scheme://host, which is all a record or a log line
// shows of it. Its errors never quote the URL.
func CheckURL(raw string) (origin string, _ error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("not an http:// or https:// URL with a host")
	}
	if u.User != nil {
		return "", fmt.Errorf("user info in the URL is refused (give the notification service's token in NOTIFICATION_SERVICE_ACCESS_TOKEN)")
	}
	return u.Scheme + "://" + u.Host, nil
}

// Notify queues a notification of f, and an alert when f makes its host's
// failures reach the threshold. It never blocks: a full queue drops the
// event (logged, counted).
func (d *Dispatcher) Notify(f domain.Failure) {
	if f.At.IsZero() {
		f.At = d.cfg.Now().UTC()
	}
	d.enqueue(job{kind: KindFailure, id: domain.NewOperationKey(), failure: f})
	if n, ok := d.alerts.add(f.Host, d.cfg.Now()); ok {
		d.enqueue(job{kind: KindAlert, id: domain.NewOperationKey(), failure: f, failures: n})
	}
}

func (d *Dispatcher) enqueue(j job) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.dropped(j, "dispatcher closed")
		return
	}
	select {
	case d.queue <- j:
		d.pending++
		d.mu.Unlock()
	default:
		d.mu.Unlock()
		d.dropped(j, "queue full")
	}
}

func (d *Dispatcher) dropped(j job, why string) {
	d.log.Warn("notification dropped: "+why, "kind", j.kind, "host", j.failure.Host, "action", j.failure.Action,
		"reservation", j.failure.ReservationID, "queue_size", d.cfg.QueueSize)
	for _, t := range d.targets {
		d.observe(t.name, OutcomeDropped)
	}
}

func (d *Dispatcher) observe(target, outcome string) {
	if d.obs != nil {
		d.obs.ObserveNotification(target, outcome)
	}
}

// run is the sender: one event at a time, in order.
func (d *Dispatcher) run() {
	defer close(d.done)
	for j := range d.queue {
		d.deliver(d.ctx, j)
		d.mu.Lock()
		d.pending--
		if d.pending == 0 {
			for _, c := range d.idle {
				close(c)
			}
			d.idle = nil
		}
		d.mu.Unlock()
	}
}

// Flush waits until every event queued so far is sent (or given up) and
// recorded, or ctx ends (its error is then returned; what is left stays
// queued and is sent later).
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	if d.pending == 0 {
		d.mu.Unlock()
		return nil
	}
	c := make(chan struct{})
	d.idle = append(d.idle, c)
	d.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notifications not all sent: %w", ctx.Err())
	}
}

// Pending is the number of events queued or being sent.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending
}

// Close stops accepting events, lets the queue drain until ctx ends, then
// cancels what is still being sent (recorded as failed) and drops the
// rest (logged). It returns when the sender has stopped. Calling it again
// does nothing.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		<-d.done
		return nil
	}
	d.closed = true
	close(d.queue) // no send after closed is set (enqueue holds mu)
	d.mu.Unlock()
	var err error
	select {
	case <-d.done:
	case <-ctx.Done():
		d.log.Warn("notifications still being sent at shutdown: cancelling them", "pending", d.Pending())
		err = fmt.Errorf("notifications not all sent: %w", ctx.Err())
		d.cancel()
		<-d.done
	}
	d.cancel()
	return err
}
