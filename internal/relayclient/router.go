package relayclient

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
)

// Router is the worker's lab.Lab: a host whose entry names a relay
// ("relay": its base URL) goes through that relay, every other host
// through OPS_RELAY_URL when it is set, else directly. Each relay's
// requests are signed with its own secret (OPS_RELAY_SECRETS, else
// OPS_RELAY_SECRET). It is the one place that decides "direct or relayed"
// for a host.
type Router struct {
	direct     lab.Lab
	defaultURL string // OPS_RELAY_URL; "": direct unless the host names a relay
	secretFor  func(url string) string
	staleAfter time.Duration
	http       *http.Client

	mu      sync.Mutex
	clients map[string]*Client
}

var (
	_ lab.Lab         = (*Router)(nil)
	_ lab.BatchReader = (*Router)(nil)
	_ lab.Router      = (*Router)(nil)
)

// NewRouter routes between direct and the relays: defaultURL is
// OPS_RELAY_URL ("": direct unless the host names a relay), secretFor the
// secret that signs for a relay URL (config.RelaySecretFor), staleAfter
// the clients' StaleAfter.
func NewRouter(direct lab.Lab, defaultURL string, secretFor func(url string) string, staleAfter time.Duration) *Router {
	return &Router{
		direct:     direct,
		defaultURL: defaultURL,
		secretFor:  secretFor,
		staleAfter: staleAfter,
		// No overall timeout: a command may run for minutes, and every
		// call is bounded by its context. The system trust store verifies
		// the relay's certificate.
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), CheckRedirect: NoRedirect},
	}
}

// client is the relay client for url, made once per URL.
func (r *Router) client(url string) *Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[url]; ok {
		return c
	}
	if r.clients == nil {
		r.clients = map[string]*Client{}
	}
	c := &Client{URL: url, Secret: []byte(r.secretFor(url)), HTTP: r.http, StaleAfter: r.staleAfter}
	r.clients[url] = c
	return c
}

// pick is the lab that reaches h, and the relay URL ("" for direct).
func (r *Router) pick(h hosts.Host) (lab.Lab, string) {
	url := h.Relay
	if url == "" {
		url = r.defaultURL
	}
	if url == "" {
		return r.direct, ""
	}
	return r.client(url), url
}

func (r *Router) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	l, _ := r.pick(h)
	return l.Wake(ctx, h, o)
}

func (r *Router) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	l, _ := r.pick(h)
	return l.Reachable(ctx, h, wait)
}

func (r *Router) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	l, _ := r.pick(h)
	return l.RunCommand(ctx, h, command, args, o)
}

func (r *Router) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	l, _ := r.pick(h)
	return l.ReadHeartbeat(ctx, h, includeEvents)
}

func (r *Router) SetLocalMode(ctx context.Context, h hosts.Host, enabled bool) error {
	l, _ := r.pick(h)
	return l.SetLocalMode(ctx, h, enabled)
}

// Routes groups hs by the way they are reached: one route per relay URL
// and one for the direct hosts, in the order each first occurs.
func (r *Router) Routes(hs []hosts.Host) []lab.Route {
	var out []lab.Route
	at := map[string]int{}
	for i, h := range hs {
		l, url := r.pick(h)
		j, ok := at[url]
		if !ok {
			j = len(out)
			at[url] = j
			out = append(out, lab.Route{Relayed: url != "", Lab: l})
		}
		out[j].Hosts = append(out[j].Hosts, h)
		out[j].Index = append(out[j].Index, i)
	}
	return out
}

// ReadHeartbeats reads each route of hs at once: one signed batch per
// relay, the direct hosts one by one; the results are in the order of hs.
func (r *Router) ReadHeartbeats(ctx context.Context, hs []hosts.Host, includeEvents bool) []lab.HeartbeatResult {
	out := make([]lab.HeartbeatResult, len(hs))
	var wg sync.WaitGroup
	for _, rt := range r.Routes(hs) {
		wg.Go(func() {
			res := lab.ReadHeartbeats(ctx, rt.Lab, rt.Hosts, includeEvents, 0)
			for j, i := range rt.Index {
				out[i] = res[j]
			}
		})
	}
	wg.Wait()
	return out
}

// Ping asks OPS_RELAY_URL's relay whether it answers (GET /health).
func (r *Router) Ping(ctx context.Context) error {
	if r.defaultURL == "" {
		return nil
	}
	return r.client(r.defaultURL).Ping(ctx)
}

// Probe probes a provisioning candidate through OPS_RELAY_URL's relay:
// a candidate is in no catalog yet, so only the default relay can be
// meant (ops.Prober).
func (r *Router) Probe(ctx context.Context, hostname string) (discovery.Result, error) {
	if r.defaultURL == "" {
		return discovery.Result{}, errors.New("discover through the relay: OPS_RELAY_URL is not set")
	}
	return r.client(r.defaultURL).Discover(ctx, hostname)
}
