module github.com/goroutinewatch/goroutinereceiver/examples/grafana/dashboardtest

go 1.26.8

require (
	github.com/VictoriaMetrics/metricsql v0.87.3
	github.com/grafana/grafana-foundation-sdk/go v0.0.22
	github.com/prometheus/otlptranslator v1.0.0
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/VictoriaMetrics/metrics v1.35.3 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/valyala/fastrand v1.1.0 // indirect
	github.com/valyala/histogram v1.2.0 // indirect
	golang.org/x/sys v0.32.0 // indirect
)
