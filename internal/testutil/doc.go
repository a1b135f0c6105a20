// Package testutil starts and probes third-party processes that tests of
// both modules run against on loopback, such as opentracker. It uses the
// standard library only (deps_test.go), never logs or prints, and is not
// part of the library API.
package testutil
