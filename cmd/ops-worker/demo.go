package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
)

// DemoReservationID is the reservation -demo-reservation adds.
const DemoReservationID = "demo-1"

// addDemoReservation puts one CONFIRMED booking of lab 1, from ten minutes
// from now for an hour, into the embedded database's lab_reservations, so
// the timeline of `make run` has a reservation to show. It refuses any
// other database: lab_reservations belongs to the gateway's backend, and
// the worker only ever changes its status.
func addDemoReservation(ctx context.Context, a *app.App, now time.Time) error {
	if a.DBKind() != app.DBEmbedded {
		return fmt.Errorf("-demo-reservation needs the embedded database (MYSQL_DSN unset), not %s", a.DBKind())
	}
	start := now.UTC().Add(10 * time.Minute).Truncate(time.Second)
	_, err := a.Store().DB.ExecContext(ctx,
		`INSERT INTO lab_reservations (transaction_hash, user_id, wallet_address, lab_id, start_time, end_time, status)
		 VALUES (?, 1, '0x0000000000000000000000000000000000000001', '1', ?, ?, 'CONFIRMED')`,
		DemoReservationID, start, start.Add(time.Hour))
	if err != nil {
		return fmt.Errorf("demo reservation: %w", err)
	}
	return nil
}
