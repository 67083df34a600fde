// Command power-outlet-command is the AWS Lambda function of
// POST /api/power/controllers/{controllerId}/outlets/{outlet}/commands (API Gateway HTTP API, payload v2): the
// worker's API restricted to that one route (lambdafn.Start). `make
// lambdas` and `sam build` build it as bootstrap (Makefile, template.yaml).
package main

import "github.com/ops-worker/ops-worker/internal/lambdafn"

func main() { lambdafn.Start("power-outlet-command") }
