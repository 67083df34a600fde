package lambdafn_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/lambdafn"
	"github.com/ops-worker/ops-worker/internal/logtest"
)

const testToken = "lambda-test-token-0123456789"

// newFunction builds route's function with no database and an empty
// catalog, plus env, logging into the returned buffer.
func newFunction(t *testing.T, route string, env map[string]string) (*lambdafn.Function, *logtest.Buffer) {
	t.Helper()
	cfg := emptyCatalogConfig(t, env)
	var logs logtest.Buffer
	f, err := lambdafn.New(t.Context(), cfg, route, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.App.Close() })
	return f, &logs
}

// emptyCatalogConfig is the configuration of a function with no database,
// an empty catalog and the test token, plus env.
func emptyCatalogConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	vars := map[string]string{"OPS_CONFIG": labsimtest.WriteHostsFile(t, `{"hosts": []}`), "LAB_MANAGER_TOKEN": testToken}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.LoadMap(t.Context(), vars)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// event is an HTTP API (v2) event as API Gateway sends it.
func event(method, path, sourceIP string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: method + " " + path,
		RawPath:  path,
		Headers:  map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "gw-req-1",
			Stage:     "$default",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: sourceIP},
		},
	}
	for k, v := range headers {
		ev.Headers[k] = v
	}
	return ev
}

func invoke(t *testing.T, f *lambdafn.Function, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	resp, err := f.Handler(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestHealth_RequestIDs(t *testing.T) {
	f, logs := newFunction(t, "health", nil)
	resp := invoke(t, f, event("GET", "/health", "203.0.113.9", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	// No X-Request-ID: API Gateway's request id.
	if got := header(resp, "X-Request-ID"); got != "gw-req-1" {
		t.Errorf("X-Request-ID = %q, want API Gateway's gw-req-1", got)
	}
	// A valid caller id wins; an invalid one falls back.
	resp = invoke(t, f, event("GET", "/health", "203.0.113.9", map[string]string{"x-request-id": "caller-7"}))
	if got := header(resp, "X-Request-ID"); got != "caller-7" {
		t.Errorf("X-Request-ID = %q, want caller-7", got)
	}
	resp = invoke(t, f, event("GET", "/health", "203.0.113.9", map[string]string{"x-request-id": "bad id\n"}))
	if got := header(resp, "X-Request-ID"); got != "gw-req-1" {
		t.Errorf("X-Request-ID = %q for an invalid caller id, want gw-req-1", got)
	}
	// Every line of an invocation is JSON with the Lambda request id.
	var access int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line not JSON: %q", line)
		}
		if rec["msg"] == "request" {
			access++
			if rec["aws_request_id"] != "lambda-req-1" {
				t.Errorf("access log line without aws_request_id: %s", line)
			}
		}
	}
	if access != 3 {
		t.Errorf("%d access log lines, want 3:\n%s", access, logs)
	}
}

func TestOnlyItsRoute(t *testing.T) {
	f, _ := newFunction(t, "health", nil)
	// Another route, even with the token: as if it did not exist.
	resp := invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", map[string]string{"x-lab-manager-token": testToken}))
	if resp.StatusCode != 404 || !strings.Contains(resp.Body, `"NOT_FOUND"`) {
		t.Errorf("GET /api/hosts on the health function: %d %s, want 404 NOT_FOUND", resp.StatusCode, resp.Body)
	}
	// Without the token the guard answers first, as for any unknown /api/ path.
	resp = invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", nil))
	if resp.StatusCode != 401 {
		t.Errorf("GET /api/hosts without token: %d, want 401", resp.StatusCode)
	}
	g, _ := newFunction(t, "hosts-list", nil)
	if resp := invoke(t, g, event("GET", "/api/hosts", "203.0.113.9", map[string]string{"x-lab-manager-token": testToken})); resp.StatusCode != 200 {
		t.Errorf("GET /api/hosts on hosts-list: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := invoke(t, g, event("GET", "/health", "203.0.113.9", nil)); resp.StatusCode != 404 {
		t.Errorf("GET /health on hosts-list: %d, want 404", resp.StatusCode)
	}
}

func TestSourceIPAllowlist(t *testing.T) {
	f, _ := newFunction(t, "hosts-list", map[string]string{"OPS_ALLOWED_CIDRS": "198.51.100.0/24"})
	tok := map[string]string{"x-lab-manager-token": testToken}
	resp := invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", tok))
	if resp.StatusCode != 403 || !strings.Contains(resp.Body, `"FORBIDDEN"`) || !strings.Contains(resp.Body, `"requestId":"gw-req-1"`) {
		t.Errorf("source outside OPS_ALLOWED_CIDRS: %d %s, want 403 FORBIDDEN", resp.StatusCode, resp.Body)
	}
	// X-Forwarded-For is no way around it (no trusted proxies).
	tok["x-forwarded-for"] = "198.51.100.7"
	if resp := invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", tok)); resp.StatusCode != 403 {
		t.Errorf("forged X-Forwarded-For: %d, want 403", resp.StatusCode)
	}
	delete(tok, "x-forwarded-for")
	if resp := invoke(t, f, event("GET", "/api/hosts", "198.51.100.7", tok)); resp.StatusCode != 200 {
		t.Errorf("source inside OPS_ALLOWED_CIDRS: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestNoWinRMClientUnlessNeeded(t *testing.T) {
	// app builds its WinRM client on the first command or heartbeat read
	// (app's own tests prove it); a health call never gets there. Here:
	// the wiring of every HTTP function builds without a database.
	for _, route := range []string{"health", "wol", "hosts-list", "openapi"} {
		f, _ := newFunction(t, route, nil)
		if f.App.DBKind() != "none" {
			t.Errorf("%s: db kind %s", route, f.App.DBKind())
		}
	}
}

// header is a response header, whatever its case, single or multi-valued.
func header(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// TestDatabaseDown: the pool is opened lazily, so an unreachable database
// does not fail the cold start; /health says so and a route that needs the
// database answers in the error contract.
func TestDatabaseDown(t *testing.T) {
	dsn := "ops:secret@tcp(" + freeAddr(t) + ")/ops?timeout=1s"
	f, _ := newFunction(t, "health", map[string]string{"MYSQL_DSN": dsn})
	resp := invoke(t, f, event("GET", "/health", "127.0.0.1", nil))
	if resp.StatusCode != 503 || !strings.Contains(resp.Body, `"db":false`) || !strings.Contains(resp.Body, `"db_kind":"mysql"`) ||
		!strings.Contains(resp.Body, `"status":"degraded"`) || !strings.Contains(resp.Body, `"failing":["db"]`) || strings.Contains(resp.Body, "secret") {
		t.Errorf("/health with the database down: %d %s", resp.StatusCode, resp.Body)
	}
	g, _ := newFunction(t, "operations-recent", map[string]string{"MYSQL_DSN": dsn})
	resp = invoke(t, g, event("GET", "/api/operations/recent", "127.0.0.1", map[string]string{"x-lab-manager-token": testToken}))
	if resp.StatusCode < 500 || !strings.Contains(resp.Body, `"requestId":"gw-req-1"`) || strings.Contains(resp.Body, "secret") {
		t.Errorf("operations-recent with the database down: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestMigrate_Events: Delete leaves the schema alone; without a database
// Create fails (CloudFormation then rolls the deploy back).
func TestMigrate_Events(t *testing.T) {
	f, _ := newFunction(t, "", nil)
	id, _, err := lambdafn.Migrate(t.Context(), f.App, cfn.Event{RequestType: cfn.RequestDelete})
	if err != nil || id != lambdafn.MigrateResourceID {
		t.Errorf("Delete: %q %v", id, err)
	}
	if _, _, err := lambdafn.Migrate(t.Context(), f.App, cfn.Event{RequestType: cfn.RequestCreate}); err == nil || !strings.Contains(err.Error(), "MYSQL_DSN") {
		t.Errorf("Create without a database: %v", err)
	}
}

// The current gateway's service credential admits a function's route as
// the operator token does (API Gateway gives header names in lower case);
// a wrong one is 401.
func TestInternalCredential(t *testing.T) {
	const internal = "lambda-internal-svc-token"
	f, _ := newFunction(t, "hosts-list", map[string]string{"OPS_INTERNAL_AUTH_TOKEN": internal})
	if resp := invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", map[string]string{"x-ops-internal-token": internal})); resp.StatusCode != 200 {
		t.Errorf("internal credential: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", map[string]string{"x-ops-internal-token": internal + "x"})); resp.StatusCode != 401 || strings.Contains(resp.Body, internal) {
		t.Errorf("wrong internal credential: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := invoke(t, f, event("GET", "/api/hosts", "203.0.113.9", map[string]string{"x-lab-manager-token": testToken})); resp.StatusCode != 200 {
		t.Errorf("operator token beside it: %d %s", resp.StatusCode, resp.Body)
	}
}
