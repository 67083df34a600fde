package telemetry

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// EMFNamespace is the CloudWatch namespace of the EMF lines.
const EMFNamespace = "OpsWorker"

// EMFDimension is the one dimension of every tick metric: the tick kind.
const EMFDimension = "Kind"

// CloudWatch units used (EMF MetricDefinition.Unit).
const (
	unitCount = "Count"
	unitMs    = "Milliseconds"
)

// EMFLine is t as one CloudWatch Embedded Metric Format document (JSON, no
// trailing newline): a Lambda tick prints it to stdout, and CloudWatch
// Logs turns it into metrics in namespace EMFNamespace with dimension
// Kind (heartbeats or reservations), no SDK call needed:
//
//	Runs, Errors (0 or 1), Duration (ms),
//	Dispatched, Failed, Skipped (summed over the phases),
//	<Phase>Dispatched, <Phase>Failed, <Phase>Skipped per phase (StartFailed, PollSkipped, ...),
//	ClaimsTaken, ClaimsExpired.
//
// A failed tick also carries its error text in member "error" (not a
// metric). The timestamp is t.Start (now when zero), in ms since the epoch.
func EMFLine(t Tick) []byte {
	kind := t.Kind
	if kind == "" {
		kind = "unknown"
	}
	ts := t.Start
	if ts.IsZero() {
		ts = time.Now()
	}
	type def struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	doc := map[string]any{EMFDimension: kind}
	var defs []def
	add := func(name, unit string, v float64) {
		if _, dup := doc[name]; dup {
			// A phase named like a total (or twice): sum into it.
			if f, ok := doc[name].(float64); ok {
				doc[name] = f + v
			}
			return
		}
		doc[name] = v
		defs = append(defs, def{name, unit})
	}
	errors := 0.0
	if t.Err != nil {
		errors = 1
		doc["error"] = t.Err.Error()
	}
	tot := t.Totals()
	add("Runs", unitCount, 1)
	add("Errors", unitCount, errors)
	add("Duration", unitMs, float64(t.Duration)/float64(time.Millisecond))
	add("Dispatched", unitCount, float64(tot.Dispatched))
	add("Failed", unitCount, float64(tot.Failed))
	add("Skipped", unitCount, float64(tot.Skipped))
	add("ClaimsTaken", unitCount, float64(t.ClaimsTaken))
	add("ClaimsExpired", unitCount, float64(t.ClaimsExpired))
	for _, c := range t.Counts {
		p := metricPrefix(c.Phase)
		add(p+"Dispatched", unitCount, float64(c.Dispatched))
		add(p+"Failed", unitCount, float64(c.Failed))
		add(p+"Skipped", unitCount, float64(c.Skipped))
	}
	doc["_aws"] = map[string]any{
		"Timestamp": ts.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  EMFNamespace,
			"Dimensions": [][]string{{EMFDimension}},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		// Only strings, numbers and the structure above: cannot happen.
		panic("telemetry.EMFLine: " + err.Error())
	}
	return b
}

// WriteEMF writes EMFLine(t) and a newline to w in one Write (a Lambda
// function's stdout), so concurrent lines do not interleave.
func WriteEMF(w io.Writer, t Tick) error {
	_, err := w.Write(append(EMFLine(t), '\n'))
	return err
}

// metricPrefix makes a phase name a metric-name prefix: letters and digits
// only, first letter upper case ("start" -> "Start"); "" -> "Other".
func metricPrefix(phase string) string {
	var b strings.Builder
	for _, r := range phase {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" {
		return "Other"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// EMFWriter is a TickObserver that writes every tick's EMF line to W (a
// Lambda function's os.Stdout, which CloudWatch Logs reads): attach it
// where the local server attaches internal/metrics.
type EMFWriter struct {
	W  io.Writer
	mu sync.Mutex
}

var _ TickObserver = (*EMFWriter)(nil)

// ObserveTick writes EMFLine(t) and a newline; a write error is dropped
// (metrics must not fail a tick).
func (e *EMFWriter) ObserveTick(t Tick) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = WriteEMF(e.W, t)
}
