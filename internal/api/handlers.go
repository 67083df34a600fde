package api

import (
	"context"
	"net/http"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// handlersFor returns the handler of each route, by Route.Name.
func handlersFor(svc Service, ticks Ticks) map[string]http.Handler {
	return map[string]http.Handler{
		"ticks-heartbeats": post(parseBody[tickWire], func(ctx context.Context, ev scheduler.Event) (scheduler.HeartbeatSummary, error) {
			if ticks == nil {
				return scheduler.HeartbeatSummary{}, errNoScheduler
			}
			return ticks.HeartbeatTick(ctx, ev)
		}, nil),
		"ticks-reservations": post(parseBody[tickWire], func(ctx context.Context, ev scheduler.Event) (scheduler.ReservationSummary, error) {
			if ticks == nil {
				return scheduler.ReservationSummary{}, errNoScheduler
			}
			return ticks.ReservationTick(ctx, ev)
		}, nil),
		"wol":               post(parseBody[wolWire], svc.Wake, nil),
		"winrm":             post(parseBody[winrmWire], svc.RunCommand, nil),
		"heartbeat-poll":    post(parseBody[pollWire], svc.PollHeartbeat, nil),
		"reservation-start": post(parseBody[startWire], svc.StartReservation, ops.FlowResponse.HTTPStatus),
		"reservation-end":   post(parseBody[endWire], svc.EndReservation, ops.FlowResponse.HTTPStatus),
		"hosts-reload": post(parseBody[reloadWire], func(ctx context.Context, _ struct{}) (ops.ReloadResponse, error) {
			return svc.ReloadHosts(ctx)
		}, nil),
		"hosts-quarantine":        post(parseBody[quarantineWire], svc.SetQuarantine, nil),
		"hosts-local-mode":        post(parseBody[localModeWire], svc.SetLocalMode, nil),
		"hosts-discover":          post(parseBody[discoverWire], svc.DiscoverHost, nil),
		"hosts-provision":         post(parseBody[provisionWire], svc.ProvisionHost, nil),
		"hosts-winrm-credentials": post(parseBody[winrmCredentialsWire], svc.SaveWinRMCredentials, nil),
		"reservation-timeline": get(func(p pageQuery) ops.TimelineRequest {
			return ops.TimelineRequest{ReservationID: p.ReservationID, Limit: p.Limit, Offset: p.Offset}
		}, svc.Timeline),
		"operations-recent": get(func(p pageQuery) ops.RecentRequest {
			return ops.RecentRequest{ReservationID: p.ReservationID, Host: p.Host, Limit: p.Limit, Offset: p.Offset}
		}, svc.RecentOperations),
		"hosts-list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := svc.Hosts(r.Context())
			respond(w, r, http.StatusOK, resp, err)
		}),
		"openapi": http.HandlerFunc(serveOpenAPI),
	}
}

// errNoScheduler answers the tick routes of a handler built without Ticks.
var errNoScheduler = ops.Errorf(ops.CodeSchedulerNotConfigured, "Scheduler not configured")

// post is a POST route: read the body (limit, media type), decode it
// strictly as its wire type, convert, call the use case, answer.
// status picks the success status from the response; nil: 200.
func post[R, S any](parse func([]byte) (R, []string, error), call func(context.Context, R) (S, error), status func(S) int) http.Handler {
	return withBody(parse, func(r *http.Request, req R) (S, error) { return call(r.Context(), req) }, status)
}

// get is a GET route with the paging query.
func get[R, S any](conv func(pageQuery) R, call func(context.Context, R) (S, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := parsePageQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, r, err)
			return
		}
		resp, err := call(r.Context(), conv(p))
		respond(w, r, http.StatusOK, resp, err)
	})
}

// respond writes a use case's result: the response with status, or the
// error through the error contract.
func respond[S any](w http.ResponseWriter, r *http.Request, status int, resp S, err error) {
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, status, resp)
}
