package api_test

import (
	"fmt"

	"github.com/ops-worker/ops-worker/internal/api"
)

// The route table New serves (and that the OpenAPI document, the Lambda
// template and the local server are checked against).
func ExampleRoutes() {
	for _, r := range api.Routes {
		auth := ""
		if r.Auth {
			auth = " (token)"
		}
		fmt.Printf("%-4s %s%s\n", r.Method, r.Path, auth)
	}
	// Output:
	// GET  /health
	// POST /api/wol (token)
	// POST /api/winrm (token)
	// POST /api/heartbeat/poll (token)
	// POST /api/reservations/start (token)
	// POST /api/reservations/end (token)
	// GET  /api/reservations/timeline (token)
	// POST /api/hosts/reload (token)
	// POST /api/hosts/quarantine (token)
	// GET  /api/hosts (token)
	// GET  /api/operations/recent (token)
	// GET  /api/openapi.json (token)
	// POST /api/ticks/heartbeats (token)
	// POST /api/ticks/reservations (token)
	// POST /api/hosts/local-mode (token)
	// GET  /api/heartbeat/stream (token)
	// POST /api/hosts/discover (token)
	// POST /api/hosts/provision (token)
	// POST /api/hosts/winrm-credentials (token)
	// GET  /api/power/controllers (token)
	// POST /api/power/controllers (token)
	// PUT  /api/power/controllers/{id} (token)
	// GET  /api/power/credentials (token)
	// POST /api/power/credentials (token)
	// GET  /api/power/policies (token)
	// PUT  /api/power/policies/{labId} (token)
	// POST /api/power/controllers/{controllerId}/outlets/{outlet}/commands (token)
	// POST /api/labs/{labId}/power/start (token)
	// POST /api/labs/{labId}/power/end (token)
	// GET  /api/power/operations (token)
}
