// Package goroutinereceiver scrapes the pprof goroutine profiles of Go
// services and turns them into per-signature OTLP metrics: how many goroutines
// sit in each distinct stack, what they wait on and where they are stuck.
//
//go:generate scripts/generate.sh
package goroutinereceiver // import "github.com/goroutinewatch/goroutinereceiver"
