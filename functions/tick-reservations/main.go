// Command tick-reservations is the AWS Lambda function of the reservation tick, fired by
// an EventBridge Schedule event (template.yaml, rate(1 minute)); an
// interval under a minute is served by several ticks per invocation
// (lambdafn.StartTick). Each tick writes one CloudWatch EMF line to stdout.
// `make lambdas` and `sam build` build it as bootstrap.
package main

import "github.com/ops-worker/ops-worker/internal/lambdafn"

func main() { lambdafn.StartTick(lambdafn.TickReservations) }
