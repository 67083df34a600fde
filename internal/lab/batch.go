package lab

import (
	"context"
	"sync"

	"github.com/ops-worker/ops-worker/internal/hosts"
)

// BatchReader is an optional interface of a Lab: it reads the heartbeats of
// many hosts in one call. The relay client implements it with one signed
// request for the whole batch (issue 10: a tick over thousands of stations
// is then not thousands of round trips from the cloud). Use ReadHeartbeats,
// which falls back to one ReadHeartbeat per host for a Lab without it.
type BatchReader interface {
	// ReadHeartbeats reads every host of hs; the results are in the order
	// of hs, one per host, each with its own Err (a relay that cannot be
	// reached gives every host ErrRelayUnreachable).
	ReadHeartbeats(ctx context.Context, hs []hosts.Host, includeEvents bool) []HeartbeatResult
}

// Router is an optional interface of a Lab that reaches some hosts through
// a relay: Routes splits hosts by the way they are reached, so that a
// heartbeat tick reads the relayed ones in batches (one signed request per
// relay) and decides the way once. Use Routes, which gives one route
// through l itself for a Lab without it.
type Router interface {
	Routes(hs []hosts.Host) []Route
}

// Route is the hosts that one Lab reaches alike: directly, or through one
// relay (Relayed). Index are their positions in the slice that was split.
type Route struct {
	Relayed bool
	Lab     Lab
	Hosts   []hosts.Host
	Index   []int
}

// Routes splits hs by the way l reaches them, in the order each way first
// occurs; a Lab that is no Router is one route, not relayed.
func Routes(l Lab, hs []hosts.Host) []Route {
	if r, ok := l.(Router); ok {
		return r.Routes(hs)
	}
	idx := make([]int, len(hs))
	for i := range hs {
		idx[i] = i
	}
	return []Route{{Lab: l, Hosts: hs, Index: idx}}
}

// HeartbeatResult is one host's part of a batch read.
type HeartbeatResult struct {
	Host string // the catalog name
	Read HeartbeatRead
	Err  error // a *Error, as ReadHeartbeat returns
}

// ReadHeartbeats reads the heartbeats of hs through l: in one call when l
// is a BatchReader, else with at most parallel (0: 8) ReadHeartbeat calls
// at once. The results are in the order of hs.
func ReadHeartbeats(ctx context.Context, l Lab, hs []hosts.Host, includeEvents bool, parallel int) []HeartbeatResult {
	if b, ok := l.(BatchReader); ok {
		return b.ReadHeartbeats(ctx, hs, includeEvents)
	}
	if parallel <= 0 {
		parallel = 8
	}
	out := make([]HeartbeatResult, len(hs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, h := range hs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := l.ReadHeartbeat(ctx, h, includeEvents)
			out[i] = HeartbeatResult{Host: h.Name, Read: r, Err: err}
		})
	}
	wg.Wait()
	return out
}
