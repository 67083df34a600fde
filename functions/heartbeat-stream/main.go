// Command heartbeat-stream is the AWS Lambda function of
// GET /api/heartbeat/stream: the worker's API restricted to that one
// route, behind a function URL with response streaming (InvokeMode
// RESPONSE_STREAM; lambdafn.StartStream). `make lambdas` and `sam build`
// build it as bootstrap (Makefile, template.yaml).
package main

import "github.com/ops-worker/ops-worker/internal/lambdafn"

func main() { lambdafn.StartStream("heartbeat-stream") }
