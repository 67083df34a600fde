// Command migrate is the AWS Lambda function behind template.yaml's Schema
// custom resource: it applies the database migrations once per deploy, so
// the HTTP functions never run DDL at cold start (see lambdafn.Migrate).
package main

import "github.com/ops-worker/ops-worker/internal/lambdafn"

func main() { lambdafn.StartMigrate() }
