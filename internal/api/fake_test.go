package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// fakeService stands in for *ops.Service: it knows one host (lab-ws-01)
// and gives the refusals API.md lists in its order, so the handler tests
// see realistic answers. It records the last request of each method.
type fakeService struct {
	mu   sync.Mutex
	last map[string]any
	// err, when set, is returned by every method that can fail.
	err error
	// flowFails makes the reservation flows answer OK=false.
	flowFails bool
	// log, when set, gets a line per Wake, logged with the request's
	// context as the use cases do.
	log *slog.Logger
	// dbDown makes Health report the database not answering.
	dbDown bool
}

const (
	knownHost   = "lab-ws-01"
	testToken   = "tok-3b9f1c-never-shown"
	testPasswd  = "P@ssw0rd-never-shown"
	knownResvID = "0xabc123"
)

var _ Service = (*fakeService)(nil)

func (f *fakeService) record(method string, req any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]any{}
	}
	f.last[method] = req
}

func (f *fakeService) lastReq(method string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[method]
}

func hostErr(h string) error {
	if h != knownHost {
		return ops.Errorf(ops.CodeHostNotFound, "host '%s' not found in config", h)
	}
	return nil
}

var fixedTime = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func (f *fakeService) Wake(ctx context.Context, req ops.WakeRequest) (ops.WakeResponse, error) {
	f.record("Wake", req)
	if f.log != nil {
		f.log.InfoContext(ctx, "waking", "host", req.Host)
	}
	if f.err != nil {
		return ops.WakeResponse{}, f.err
	}
	if req.Host == "" && req.MAC == "" {
		return ops.WakeResponse{}, ops.Errorf(ops.CodeBadRequest, "mac is required")
	}
	if req.Host != "" {
		if err := hostErr(req.Host); err != nil {
			return ops.WakeResponse{}, err
		}
	}
	by := "tcp"
	return ops.WakeResponse{Success: true, AttemptsUsed: 1, DurationMs: 12, PingTarget: "10.0.0.5", ReachedBy: &by}, nil
}

func (f *fakeService) RunCommand(_ context.Context, req ops.CommandRequest) (ops.CommandResponse, error) {
	f.record("RunCommand", req)
	if f.err != nil {
		return ops.CommandResponse{}, f.err
	}
	switch {
	case req.Host == "" || req.Command == "":
		return ops.CommandResponse{}, ops.Errorf(ops.CodeBadRequest, "host and command are required")
	case !slices.Contains([]string{"status", "status-json", "prepare-session"}, req.Command):
		return ops.CommandResponse{}, ops.Errorf(ops.CodeCommandNotAllowed, "command '%s' not allowed", req.Command)
	}
	if err := hostErr(req.Host); err != nil {
		return ops.CommandResponse{}, err
	}
	if req.User != "" || req.Password != "" {
		return ops.CommandResponse{}, ops.Errorf(ops.CodePolicyRefused, "credential overrides are not allowed")
	}
	return ops.CommandResponse{ExitCode: 0, Stdout: "ok\r\n", Stderr: "", DurationMs: 40}, nil
}

func (f *fakeService) PollHeartbeat(_ context.Context, req ops.PollRequest) (ops.PollResponse, error) {
	f.record("PollHeartbeat", req)
	if f.err != nil {
		return ops.PollResponse{}, f.err
	}
	if req.Host == "" {
		return ops.PollResponse{}, ops.Errorf(ops.CodeBadRequest, "host is required")
	}
	if err := hostErr(req.Host); err != nil {
		return ops.PollResponse{}, err
	}
	return ops.PollResponse{
		Heartbeat: json.RawMessage(`{"schemaVersion":"1.0","ready":true}`), LastEvent: json.RawMessage(`null`),
		DurationMs: 30, Host: req.Host, Stored: true,
	}, nil
}

func (f *fakeService) flow(resID, host, labID string, action string) (ops.FlowResponse, error) {
	if f.err != nil {
		return ops.FlowResponse{}, f.err
	}
	if resID == "" || host == "" {
		return ops.FlowResponse{}, ops.Errorf(ops.CodeBadRequest, "reservationId and host are required")
	}
	if host != knownHost {
		return ops.FlowResponse{}, ops.Errorf(ops.CodeHostNotFound, "host '%s' not found", host)
	}
	step := ops.Step{Action: action, Success: !f.flowFails, Status: "completed", Message: "Exit code 0", DurationMs: 5,
		Details: map[string]any{"exitCode": 0, "stdout": "", "stderr": "", "args": []string{}, "durationMs": 5}}
	if f.flowFails {
		step.Status, step.Message = "failed", "Exit code 3"
	}
	return ops.FlowResponse{Success: !f.flowFails, ReservationID: resID, Host: host, LabID: labID, Steps: []ops.Step{step}}, nil
}

func (f *fakeService) StartReservation(_ context.Context, req ops.StartRequest) (ops.FlowResponse, error) {
	f.record("StartReservation", req)
	return f.flow(req.ReservationID, req.Host, req.LabID, "prepare")
}

func (f *fakeService) EndReservation(_ context.Context, req ops.EndRequest) (ops.FlowResponse, error) {
	f.record("EndReservation", req)
	return f.flow(req.ReservationID, req.Host, req.LabID, "release")
}

func operation() ops.OperationView {
	code, ms := 200, 5
	return ops.OperationView{ID: 7, ReservationID: knownResvID, LabID: "1", Host: knownHost, Action: "wake", Status: "completed",
		Success: true, Message: "Host reachable", Payload: json.RawMessage(`{"a":1}`), ResponseCode: &code, DurationMs: &ms, CreatedAt: fixedTime}
}

func page(limit, offset *int) ops.Pagination {
	l, o := 100, 0
	if limit != nil {
		l = *limit
	}
	if offset != nil {
		o = *offset
	}
	return ops.Pagination{Limit: l, Offset: o, Page: 1, PageSize: l, Returned: 1, Total: 1}
}

func (f *fakeService) Timeline(_ context.Context, req ops.TimelineRequest) (ops.TimelineResponse, error) {
	f.record("Timeline", req)
	if f.err != nil {
		return ops.TimelineResponse{}, f.err
	}
	if req.ReservationID == "" {
		return ops.TimelineResponse{}, ops.Errorf(ops.CodeBadRequest, "reservationId is required")
	}
	if req.ReservationID != knownResvID {
		return ops.TimelineResponse{}, ops.Errorf(ops.CodeReservationNotFound, "Reservation not found")
	}
	op := operation()
	pub := hosts.Host{Name: knownHost, Address: "10.0.0.5", WinRMPass: testPasswd, Labs: []string{"1"}}.Public()
	ready := true
	return ops.TimelineResponse{
		Reservation: ops.ReservationView{ReservationID: knownResvID, LabID: "1", Status: "CONFIRMED", Start: &fixedTime, End: &fixedTime, CreatedAt: &fixedTime},
		Host:        &ops.HostView{Name: knownHost, LabID: "1", Config: &pub},
		Operations:  []ops.OperationView{op},
		Phases:      ops.Phases{Wake: &op},
		Heartbeat:   &ops.HeartbeatView{Timestamp: &fixedTime, Ready: &ready, Raw: json.RawMessage(`{}`)},
		Pagination:  page(req.Limit, req.Offset),
	}, nil
}

func (f *fakeService) ReloadHosts(context.Context) (ops.ReloadResponse, error) {
	f.record("ReloadHosts", struct{}{})
	if f.err != nil {
		return ops.ReloadResponse{}, f.err
	}
	return ops.ReloadResponse{Reloaded: true, Hosts: 1}, nil
}

func (f *fakeService) SetQuarantine(_ context.Context, req ops.QuarantineRequest) (ops.QuarantineResponse, error) {
	f.record("SetQuarantine", req)
	if f.err != nil {
		return ops.QuarantineResponse{}, f.err
	}
	if req.Host == "" {
		return ops.QuarantineResponse{}, ops.Errorf(ops.CodeBadRequest, "host is required")
	}
	if err := hostErr(req.Host); err != nil {
		return ops.QuarantineResponse{}, err
	}
	q := req.Quarantined == nil || *req.Quarantined
	return ops.QuarantineResponse{Host: req.Host, Quarantined: q}, nil
}

func (f *fakeService) Hosts(context.Context) (ops.HostsResponse, error) {
	f.record("Hosts", struct{}{})
	if f.err != nil {
		return ops.HostsResponse{}, f.err
	}
	pub := hosts.Host{Name: knownHost, Address: "10.0.0.5", WinRMUser: "lab", WinRMPass: testPasswd, Labs: []string{"1"}}.Public()
	rdp, port := "lab-ws-01", "3389"
	conn := ops.GuacamoleConnection{ID: 1, Name: "RDP 01", Hostname: &rdp, Protocol: "rdp", Port: &port}
	return ops.HostsResponse{Hosts: []ops.HostSummary{
		{Public: pub, Heartbeat: &ops.HeartbeatSummary{Timestamp: &fixedTime, LastSeen: &fixedTime},
			CredentialRef: "10.0.0.5", WinRMConfigured: true, Source: hosts.SourceFile,
			Guacamole: &ops.GuacamoleLink{Status: ops.GuacLinked, Connections: []ops.GuacamoleConnection{conn}}},
		{Public: hosts.Host{Name: "lab-ws-02", Address: "10.0.0.6"}.Public(), CredentialRef: "10.0.0.6", Source: hosts.SourceDatabase,
			Guacamole: &ops.GuacamoleLink{Status: ops.GuacMissing, Connections: []ops.GuacamoleConnection{}}},
	}, GuacamoleAvailable: true, GuacamoleUnmatched: []ops.GuacamoleConnection{{ID: 2, Name: "no hostname", Protocol: "ssh"}}}, nil
}

func (f *fakeService) RecentOperations(_ context.Context, req ops.RecentRequest) (ops.RecentResponse, error) {
	f.record("RecentOperations", req)
	if f.err != nil {
		return ops.RecentResponse{}, f.err
	}
	return ops.RecentResponse{Operations: []ops.OperationView{operation()}, Pagination: page(req.Limit, req.Offset)}, nil
}

func (f *fakeService) Health(context.Context) ops.HealthResponse {
	f.record("Health", struct{}{})
	if f.dbDown {
		return ops.HealthResponse{Status: ops.HealthDegraded, HostsLoaded: 1, Version: "test", DBKind: "mysql", Failing: []string{"db"}}
	}
	return ops.HealthResponse{Status: ops.HealthOK, HostsLoaded: 1, DB: true, Version: "test", DBKind: "embedded-memory", Failing: []string{}}
}

// errInternal is an unexpected failure whose text must stay in the log.
var errInternal = errors.New("dial tcp 10.0.0.9:3306: connection refused (internal detail)")

func (f *fakeService) SetLocalMode(_ context.Context, req ops.LocalModeRequest) (ops.LocalModeResponse, error) {
	f.record("SetLocalMode", req)
	if f.err != nil {
		return ops.LocalModeResponse{}, f.err
	}
	switch {
	case req.Host == "":
		return ops.LocalModeResponse{}, ops.Errorf(ops.CodeBadRequest, "host is required")
	case req.Enabled == nil:
		return ops.LocalModeResponse{}, ops.Errorf(ops.CodeBadRequest, "enabled is required")
	}
	if err := hostErr(req.Host); err != nil {
		return ops.LocalModeResponse{}, err
	}
	return ops.LocalModeResponse{Host: req.Host, LocalModeEnabled: *req.Enabled}, nil
}

// knownConnection is the one Guacamole connection the fake knows.
const knownConnection = "11"

func connErr(id string) error {
	switch {
	case id == "":
		return ops.Errorf(ops.CodeBadRequest, "connectionId is required")
	case id != knownConnection:
		return ops.Errorf(ops.CodeConnectionNotFound, "Guacamole connection %s not found", id)
	}
	return nil
}

func (f *fakeService) DiscoverHost(_ context.Context, req ops.DiscoverRequest) (ops.DiscoverResponse, error) {
	f.record("DiscoverHost", req)
	if f.err != nil {
		return ops.DiscoverResponse{}, f.err
	}
	if err := connErr(req.ConnectionID); err != nil {
		return ops.DiscoverResponse{}, err
	}
	h := "bench-pc-07"
	return ops.DiscoverResponse{Connection: ops.GuacamoleConnection{ID: 11, Name: "Bench", Hostname: &h, Protocol: "rdp"},
		Status: "labstation-detected", Checks: ops.DiscoverChecks{DNS: true, WinRM: map[string]bool{"5986": true}},
		OpsHostDraft: &ops.HostDraft{Name: h, Address: h, Labs: []string{}, NameCandidates: []string{h}}}, nil
}

func (f *fakeService) ProvisionHost(_ context.Context, req ops.ProvisionRequest) (ops.ProvisionResponse, error) {
	f.record("ProvisionHost", req)
	if f.err != nil {
		return ops.ProvisionResponse{}, f.err
	}
	if err := connErr(req.ConnectionID); err != nil {
		return ops.ProvisionResponse{}, err
	}
	labs := req.Labs
	if labs == nil {
		labs = []string{}
	}
	return ops.ProvisionResponse{Provisioned: true, Hosts: 2, DiscoveryStatus: "labstation-detected",
		Host: ops.ProvisionedHost{Name: "bench-pc-07", Address: "bench-pc-07", CredentialRef: "bench-pc-07", Labs: labs, Source: "database"}}, nil
}

func (f *fakeService) SaveWinRMCredentials(_ context.Context, req ops.WinRMCredentialsRequest) (ops.WinRMCredentialsResponse, error) {
	f.record("SaveWinRMCredentials", req)
	if f.err != nil {
		return ops.WinRMCredentialsResponse{}, f.err
	}
	switch {
	case req.CredentialRef == "":
		return ops.WinRMCredentialsResponse{}, ops.Errorf(ops.CodeBadRequest, "credentialRef is required")
	case req.User == "":
		return ops.WinRMCredentialsResponse{}, ops.Errorf(ops.CodeBadRequest, "user is required")
	case req.Password.IsZero():
		return ops.WinRMCredentialsResponse{}, ops.Errorf(ops.CodeBadRequest, "password is required")
	}
	return ops.WinRMCredentialsResponse{Saved: true, CredentialRef: req.CredentialRef, Hosts: 1}, nil
}
