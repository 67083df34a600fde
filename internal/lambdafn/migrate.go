package lambdafn

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
)

// MigrateResourceID is the physical id of the schema custom resource.
const MigrateResourceID = "ops-worker-schema"

// Migrate applies the database migrations for a CloudFormation custom
// resource event: Create and Update migrate, Delete leaves the schema (and
// the data) alone. The HTTP functions never migrate (app.Options.
// SkipMigrations): a dozen functions each running DDL on every cold start
// is wasted time on the request path; the stack runs this once per deploy
// instead (template.yaml's Schema resource, whose properties change with
// every new version of this function's code, and so of its embedded
// schema files).
func Migrate(ctx context.Context, a *app.App, ev cfn.Event) (string, map[string]any, error) {
	if ev.RequestType == cfn.RequestDelete {
		return MigrateResourceID, nil, nil
	}
	st := a.Store()
	if st == nil {
		return MigrateResourceID, nil, errors.New("MYSQL_DSN is not set: nothing to migrate")
	}
	if err := st.Migrate(ctx); err != nil {
		return MigrateResourceID, nil, err
	}
	a.Logger().InfoContext(ctx, "database migrated", "request_type", string(ev.RequestType))
	return MigrateResourceID, map[string]any{"Migrated": "true"}, nil
}

// StartMigrate is the main of functions/migrate: the worker from the
// environment (no route served), then lambda.Start with Migrate behind
// cfn.LambdaWrap, which reports the outcome to CloudFormation.
func StartMigrate() {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	cfg, err := config.Load(ctx)
	if err != nil {
		fail("migrate", err)
	}
	a, err := app.New(ctx, cfg, Options(cfg, "", os.Stdout))
	cancel()
	if err != nil {
		fail("migrate", err)
	}
	lambda.Start(cfn.LambdaWrap(func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		return Migrate(ctx, a, ev)
	}))
}
