// Package mysql holds the worker's SQL schema files, numbered and each safe
// to apply twice, embedded so every binary carries the schema it expects.
package mysql

import "embed"

// Files holds the *.sql files of this folder; apply them in name order.
//
//go:embed *.sql
var Files embed.FS
