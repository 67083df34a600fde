package app

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/relayclient"
)

// relayRouter is the worker's lab.Lab when a relay secret is configured:
// a host whose entry names a relay ("relay": its base URL) goes through
// that relay, every other host through OPS_RELAY_URL when it is set, else
// directly. Each relay's requests are signed with its OPS_RELAY_SECRETS
// entry, else OPS_RELAY_SECRET.
type relayRouter struct {
	direct     lab.Lab
	defaultURL string // OPS_RELAY_URL; "": direct unless the host names a relay
	secretFor  func(url string) string
	staleAfter time.Duration
	http       *http.Client

	mu      sync.Mutex
	clients map[string]*relayclient.Client
}

var (
	_ lab.Lab         = (*relayRouter)(nil)
	_ lab.BatchReader = (*relayRouter)(nil)
	_ lab.Router      = (*relayRouter)(nil)
)

func newRelayRouter(cfg config.Config, direct lab.Lab) *relayRouter {
	return &relayRouter{
		direct:     direct,
		defaultURL: cfg.RelayURL,
		secretFor:  cfg.RelaySecretFor,
		staleAfter: cfg.HeartbeatStaleAfter(),
		// No overall timeout: a command may run for minutes, and every
		// call is bounded by its context. The system trust store verifies
		// the relay's certificate.
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), CheckRedirect: relayclient.NoRedirect},
	}
}

// client is the relay client for url, made once per URL.
func (r *relayRouter) client(url string) *relayclient.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[url]; ok {
		return c
	}
	if r.clients == nil {
		r.clients = map[string]*relayclient.Client{}
	}
	c := &relayclient.Client{URL: url, Secret: []byte(r.secretFor(url)), HTTP: r.http, StaleAfter: r.staleAfter}
	r.clients[url] = c
	return c
}

// pick is the lab that reaches h, and the relay URL ("" for direct).
func (r *relayRouter) pick(h hosts.Host) (lab.Lab, string) {
	url := h.Relay
	if url == "" {
		url = r.defaultURL
	}
	if url == "" {
		return r.direct, ""
	}
	return r.client(url), url
}

// Relayed reports whether h goes through a relay.
func (r *relayRouter) Relayed(h hosts.Host) bool {
	_, url := r.pick(h)
	return url != ""
}

func (r *relayRouter) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	l, _ := r.pick(h)
	return l.Wake(ctx, h, o)
}

func (r *relayRouter) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	l, _ := r.pick(h)
	return l.Reachable(ctx, h, wait)
}

func (r *relayRouter) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	l, _ := r.pick(h)
	return l.RunCommand(ctx, h, command, args, o)
}

func (r *relayRouter) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	l, _ := r.pick(h)
	return l.ReadHeartbeat(ctx, h, includeEvents)
}

// ReadHeartbeats groups hs by relay: one signed batch per relay, the
// direct hosts read one by one; the results are in the order of hs.
func (r *relayRouter) ReadHeartbeats(ctx context.Context, hs []hosts.Host, includeEvents bool) []lab.HeartbeatResult {
	out := make([]lab.HeartbeatResult, len(hs))
	groups := map[string][]int{}
	var order []string
	for i, h := range hs {
		_, url := r.pick(h)
		if _, ok := groups[url]; !ok {
			order = append(order, url)
		}
		groups[url] = append(groups[url], i)
	}
	var wg sync.WaitGroup
	for _, url := range order {
		idx := groups[url]
		part := make([]hosts.Host, len(idx))
		for j, i := range idx {
			part[j] = hs[i]
		}
		var l lab.Lab = r.direct
		if url != "" {
			l = r.client(url)
		}
		wg.Go(func() {
			res := lab.ReadHeartbeats(ctx, l, part, includeEvents, 0)
			for j, i := range idx {
				out[i] = res[j]
			}
		})
	}
	wg.Wait()
	return out
}

// Ping asks OPS_RELAY_URL's relay whether it answers (GET /health).
func (r *relayRouter) Ping(ctx context.Context) error {
	if r.defaultURL == "" {
		return nil
	}
	return r.client(r.defaultURL).Ping(ctx)
}
