package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/guacamole/guacdemo"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

// The reservations -demo-reservation adds (`make run`).
const (
	// DemoReservationID is driven by hand, by the README's curl lines: lab
	// 1, CONFIRMED, tomorrow at this time for an hour, so the reservation
	// tick leaves it alone while the demo runs.
	DemoReservationID = "demo-1"
	// DemoAutoReservationID is driven by the reservation tick
	// (OPS_RESERVATION_AUTOMATION=true): lab 2, CONFIRMED, starting
	// DemoAutoStartIn after start-up for DemoAutoLength. `make run` starts
	// lab-ws-02 asleep, so its start flow wakes it.
	DemoAutoReservationID = "demo-2"
	DemoAutoLab           = "2"
	DemoAutoStartIn       = 3 * time.Minute
	DemoAutoLength        = 3 * time.Minute
)

// addDemoReservation puts the demo's two CONFIRMED bookings (see
// DemoReservationID and DemoAutoReservationID) into the embedded
// database's lab_reservations. It refuses any other database:
// lab_reservations belongs to the gateway's backend, and the worker only
// ever changes its status.
func addDemoReservation(ctx context.Context, a *app.App, now time.Time) error {
	if a.DBKind() != app.DBEmbedded {
		return fmt.Errorf("-demo-reservation needs the embedded database (MYSQL_DSN unset), not %s", a.DBKind())
	}
	now = now.UTC().Truncate(time.Second)
	manual := now.Add(24 * time.Hour)
	auto := now.Add(DemoAutoStartIn)
	for _, r := range []struct {
		id, lab    string
		start, end time.Time
	}{
		{DemoReservationID, "1", manual, manual.Add(time.Hour)},
		{DemoAutoReservationID, DemoAutoLab, auto, auto.Add(DemoAutoLength)},
	} {
		_, err := a.Store().DB.ExecContext(ctx,
			`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status)
			 VALUES (?, 1, '0x0000000000000000000000000000000000000001', ?, ?, ?, 'CONFIRMED')`,
			r.id, r.lab, r.start, r.end)
		if err != nil {
			return fmt.Errorf("demo reservation %s: %w", r.id, err)
		}
	}
	return nil
}

// logDemoPlan says what the reservation tick will do with the automated
// demo booking, and when (local times, as a terminal shows them).
func logDemoPlan(log *slog.Logger, cfg config.Config, a *app.App, now time.Time) {
	host := "(no host serves lab " + DemoAutoLab + ")"
	if hs := a.Hosts().Catalog().ForLab(DemoAutoLab); len(hs) > 0 {
		host = hs[0].Name
	}
	start := now.Truncate(time.Second).Add(DemoAutoStartIn)
	end := start.Add(DemoAutoLength)
	clock := func(t time.Time) string { return t.Local().Format("15:04:05") }
	if !cfg.ReservationAutomation {
		log.Info("demo: reservation "+DemoAutoReservationID+" waits for OPS_RESERVATION_AUTOMATION=true (the reservation tick is off)",
			"lab_id", DemoAutoLab, "host", host, "start", clock(start), "end", clock(end))
		return
	}
	log.Info(fmt.Sprintf("demo: reservation %s (lab %s on %s): woken and prepared from %s, ACTIVE; it ends at %s, then from %s released, powered off (%s) and COMPLETED",
		DemoAutoReservationID, DemoAutoLab, host, clock(start.Add(-cfg.StartLead())), clock(end),
		clock(end.Add(cfg.EndDelay())), cfg.ReservationEndPower),
		"start", clock(start), "scan_interval", cfg.ScanInterval().String())
}

// demoGuacamoleDB is the embedded engine's database that holds the demo's
// Guacamole connection tables (GET /api/hosts reads it with
// -demo-reservation when no Guacamole database is configured).
const demoGuacamoleDB = "guacamole_demo"

// DemoGuacamole are the demo's Guacamole connections: one linked to
// lab-ws-01 (its hostname is the station's name), two on lab-ws-02 (which
// is then ambiguous), and one for a station that is in no catalog yet (a
// provisioning candidate: `make run`'s unlisted labsim station, reached as
// localhost, which /etc/hosts resolves without a DNS query); lab-ws-03 has
// none (missing).
var DemoGuacamole = []domain.GuacConnection{
	{ID: 1, Name: "Lab Station 01 (RDP)", Protocol: "rdp", Hostname: "lab-ws-01", Port: "3389"},
	{ID: 2, Name: "Lab Station 02 (RDP)", Protocol: "rdp", Hostname: "lab-ws-02", Port: "3389"},
	{ID: 3, Name: "Lab Station 02 (VNC)", Protocol: "vnc", Hostname: "lab-ws-02", Port: "5900"},
	{ID: 4, Name: "Lab Station 04 (RDP)", Protocol: "rdp", Hostname: "localhost", Port: "3389"},
}

// addDemoGuacamole creates Guacamole's two connection tables in the
// embedded engine's demoGuacamoleDB and fills them with DemoGuacamole.
// Like the demo reservations, only on the embedded database.
func addDemoGuacamole(ctx context.Context, a *app.App) error {
	if a.DBKind() != app.DBEmbedded {
		return fmt.Errorf("the demo's Guacamole connections need the embedded database (MYSQL_DSN unset), not %s", a.DBKind())
	}
	if err := guacdemo.CreateTables(ctx, a.Store().DB, demoGuacamoleDB); err != nil {
		return err
	}
	return guacdemo.Add(ctx, a.Store().DB, demoGuacamoleDB, DemoGuacamole...)
}

// The demo's bench power: a simulated APC PDU (`make run` starts pdusim)
// whose two outlets lab 2's policy switches around demo-2: the PLC on
// before the wake and off after the power-down, the HMI on after the wake
// and off before the release.
const (
	demoPDUID            = "demo-pdu"
	demoPDUCommunityVar  = "DEMO_PDU_COMMUNITY" // the write community, from the environment (never a flag: process lists)
	demoPDUDefaultCommun = "private"
)

// addDemoPower stores the PDU's community, the controller and lab 2's
// policy through the power use cases (as the page would).
func addDemoPower(ctx context.Context, a *app.App, addr string) error {
	p := a.Power()
	if p == nil {
		return fmt.Errorf("the demo PDU needs a database")
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-demo-pdu %q: want host:port", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("-demo-pdu %q: want host:port", addr)
	}
	community := os.Getenv(demoPDUCommunityVar)
	if community == "" {
		community = demoPDUDefaultCommun
	}
	if _, err := p.SavePowerCredential(ctx, powerops.SaveCredentialRequest{CredentialRef: demoPDUID, Type: "snmpv2c",
		Credentials: map[string]any{"version": "v2c", "community": community}, Overwrite: true, Actor: "demo"}); err != nil {
		return fmt.Errorf("demo PDU credential: %w", err)
	}
	ctl, _ := json.Marshal(map[string]any{"id": demoPDUID, "name": "Demo bench PDU (pdusim)", "driver": "apc-powernet-snmp",
		"enabled": true, "host": host, "port": port, "credentialRef": demoPDUID,
		"config":  map[string]any{"profile": "auto", "timeoutSeconds": 2, "retries": 1},
		"outlets": []any{map[string]any{"outlet": "1", "logicalName": "plc"}, map[string]any{"outlet": "2", "logicalName": "hmi"}}})
	if _, err := p.CreateController(ctx, ctl, "demo"); err != nil {
		return fmt.Errorf("demo PDU controller: %w", err)
	}
	step := func(id, phase, outlet, action string) map[string]any {
		return map[string]any{"id": id, "phase": phase, "sequence": 1, "controllerId": demoPDUID, "outlet": outlet, "action": action, "required": true}
	}
	pol, _ := json.Marshal(map[string]any{"labId": DemoAutoLab, "policyName": "demo-bench", "enabled": true,
		"startFailureMode": "fail_reservation_start", "endFailureMode": "warn_and_continue",
		"steps": []any{step("plc-on", "pre_start", "1", "on"), step("hmi-on", "post_start", "2", "on"),
			step("hmi-off", "pre_end", "2", "off"), step("plc-off", "post_end", "1", "off")}})
	if _, err := p.PutPolicy(ctx, DemoAutoLab, pol, "demo"); err != nil {
		return fmt.Errorf("demo power policy: %w", err)
	}
	return nil
}
