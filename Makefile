# The two commands of the README:
#   make run    build the collector with ocb, start the example target and
#               show its per-signature goroutine groups
#   make test   every test: vet, format, generated code, lint, alerting rules,
#               unit, end-to-end
# Both work on a fresh machine with Go, network access to the Go module proxy
# and, for make test, Debian's package archive (prometheus and promtool are
# installed with apt-get where missing); everything else is installed here.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
# golangci-lint, at the version internal/tools/go.mod pins, built from source.
LINT        := $(CURDIR)/_build/golangci-lint
OCB_VERSION := v0.164.0
OCB         := $(GOBIN)/builder
COLLECTOR   := _build/otelcol-goroutine
DISCOVERY   := _build/discovery/otelcol-goroutine-discovery

.PHONY: run test check lint rules unit e2e collector collector-discovery backends generate fixtures chart fuzz bench bench-scale bench-target bench-compare bench-baseline

run: collector
	scripts/run.sh

test: check lint rules unit e2e

# ocb is installed at the version the manifest's modules were built with.
$(OCB):
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

collector: $(OCB)
	$(OCB) --config builder-config.yaml

# The collector with receiver_creator and the host and Kubernetes observers.
collector-discovery: $(OCB)
	$(OCB) --config builder-config-discovery.yaml

# The OTLP-native backends of the e2e tests, built from their Go modules at
# the versions e2e/backends/go.mod pins: VictoriaMetrics, vmalert and
# VictoriaLogs. Without cgo: VictoriaMetrics then compresses with
# klauspost's pure-Go zstd, and no C compiler is needed.
BACKENDS := github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics \
	github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert \
	github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
backends:
	CGO_ENABLED=0 $(GO) build -modfile=e2e/backends/go.mod -o _build/backends/ $(BACKENDS)

check:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e
	cd cmd/libtarget && $(GO) vet ./...
	cd testdata/ancestry && $(GO) vet ./...
	cd examples/kubernetes/operatortest && $(GO) vet ./...
	cd examples/grafana/dashboardtest && $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	scripts/generate.sh
	@git diff --exit-code -- internal/metadata documentation.md 'generated_*' || \
	  { echo "generated code is stale: run make generate and commit"; exit 1; }

# golangci-lint with .golangci.yml over the receiver's module and the
# example target's and fixtures' own (testdata/go127, a Go 1.27 module, is
# beyond a linter built with Go 1.26); any finding fails.
$(LINT): internal/tools/go.mod
	$(GO) build -modfile=internal/tools/go.mod -o $(LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

lint: $(LINT)
	$(LINT) run ./...
	cd cmd/libtarget && $(LINT) run ./...
	cd testdata/ancestry && $(LINT) run ./...
	cd examples/kubernetes/operatortest && $(LINT) run ./...
	cd examples/grafana/dashboardtest && $(LINT) run ./...

# The example alerting rules: valid, and each rule's unit tests (firing and
# not firing) pass. Debian's promtool is installed where missing.
rules:
	scripts/install-prometheus.sh
	promtool check rules examples/prometheus/goroutine-rules.yaml
	cd examples/prometheus && promtool test rules goroutine-rules.test.yaml

unit:
	$(GO) test -race -count=1 ./...
	cd cmd/libtarget && $(GO) test -race -count=1 -bench . -benchtime 1x ./...
	# The Operator example, decoded into the operator's own API types.
	cd examples/kubernetes/operatortest && $(GO) test -count=1 ./...
	# The dashboard in Grafana's schema (grafana-foundation-sdk), its and
	# the rules' queries against metadata.yaml's metrics.
	cd examples/grafana/dashboardtest && $(GO) test -count=1 ./...
	# A short fuzz run: the seeds and 200,000 new inputs. A count, not a
	# duration: Go 1.26's fuzz coordinator can fail a duration run at its
	# deadline with no crasher (golang/go#75804, fixed in Go 1.27).
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 200000x ./internal/decode
	$(GO) test -run '^$$' -fuzz FuzzGroupMatchesPprof -fuzztime 200000x ./internal/group
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 200000x ./internal/dump
	$(GO) test -run '^$$' -fuzz FuzzRestore -fuzztime 200000x ./internal/trend
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 200000x ./internal/state
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 200000x ./internal/index
	$(GO) test -run '^$$' -fuzz FuzzToPprof -fuzztime 200000x ./internal/otlpprofile
	# Every benchmark once, so that none rots: BENCHMARKS.md quotes them.
	# -short: the code of each, not its largest sizes.
	$(GO) test -short -run '^$$' -bench . -benchtime 1x ./...

e2e: collector collector-discovery backends
	OTELCOL_BIN=$(CURDIR)/$(COLLECTOR) OTELCOL_DISCOVERY_BIN=$(CURDIR)/$(DISCOVERY) \
	  $(GO) test -tags e2e -count=1 -v -parallel 6 -timeout 40m ./e2e
	# The collector and target-cost benchmarks at their small default sizes.
	OTELCOL_BIN=$(CURDIR)/$(COLLECTOR) $(GO) test -tags e2e -run '^$$' -bench . -benchtime 2x ./e2e

generate:
	scripts/generate.sh

# docs/chart.svg, the README's picture, from a 4-minute run.
chart: collector
	scripts/chart.sh

fixtures:
	scripts/capture-profiles.sh
	scripts/capture-dumps.sh
	scripts/capture-index.sh
	$(GO) test . -run TestScrapeGolden -update || true
	$(GO) test . -run TestScrapeGolden

# BENCHMARKS.md's tables. bench: decode+group against google/pprof and gzip
# (about 10 minutes); bench-scale: the collector against up to 1,000
# targets, then 500 targets of 100 to 10,000 stacks (about 25 minutes);
# bench-target: what each endpoint costs the target (about 10 minutes).
# Output and benchstat tables land in _build/bench.
BENCHSTAT := $(GO) tool -modfile=internal/tools/go.mod benchstat
bench:
	mkdir -p _build/bench
	$(GO) test -run '^$$' -bench BenchmarkGroup -benchmem -count 6 ./internal/group | tee _build/bench/group.txt
	$(BENCHSTAT) -col /path _build/bench/group.txt | tee _build/bench/group-benchstat.txt

# The scale runs are measured once every horizon is ready (SCALE_WINDOWS:
# three horizons of about 5 minutes, each group's seven points written), as
# a collector works once its default horizons are (a day); about 4 minutes
# a size.
SCALE_STEADY := SCALE_INTERVAL=15s SCALE_WINDOWS=300s,310s,320s OTELCOL_BIN=$(CURDIR)/$(COLLECTOR)
bench-scale: collector
	mkdir -p _build/bench
	SCALE_TARGETS=100,500,1000 $(SCALE_STEADY) \
	  $(GO) test -tags e2e -run '^$$' -bench CollectorScale -benchtime 4x -timeout 2h ./e2e | tee _build/bench/scale.txt
	SCALE_TARGETS=500 SCALE_STACKS=100,1000,10000 $(SCALE_STEADY) \
	  $(GO) test -tags e2e -run '^$$' -bench CollectorScale -benchtime 4x -timeout 1h ./e2e | tee _build/bench/scale-stacks.txt

bench-target:
	mkdir -p _build/bench
	TARGET_GOROUTINES=1000,10000,100000 $(GO) test -tags e2e -run '^$$' -bench TargetCost -benchtime 3x -timeout 2h ./e2e | tee _build/bench/target.txt

# The guard (BENCHMARKS.md, section 6): this tree's figures against the last
# release's (bench/$(RELEASE).txt, written by make bench-baseline on the
# release's commit), compared by benchstat; any figure that moved by more
# than 10 % must be named in the CHANGELOG's newest section, or it fails.
# With BASE, this tree against an earlier commit instead, the two run
# alternately (section 4): make bench-compare BASE=c54ebcd, with SCALE=1
# the collector against 1,000 targets too.
RELEASE := v0.1.0
GUARD_BENCH := $(GO) test -run '^$$' -benchmem -count $(or $(COUNT),6)
bench-guard-run = \
	$(GUARD_BENCH) -bench 'BenchmarkGroup/^stacks=(1000|10000)$$/./labels/path=receiver$$' ./internal/group > $(1) && \
	$(GUARD_BENCH) -bench 'BenchmarkScrape$$' . >> $(1) && \
	$(GUARD_BENCH) -bench 'BenchmarkTracker' ./internal/trend >> $(1)
bench-compare:
ifdef BASE
	scripts/bench-compare.sh $(BASE)
else
	mkdir -p _build/bench
	$(call bench-guard-run,_build/bench/guard.txt)
	$(BENCHSTAT) bench/$(RELEASE).txt _build/bench/guard.txt | tee _build/bench/guard-benchstat.txt
	$(BENCHSTAT) -format csv bench/$(RELEASE).txt _build/bench/guard.txt 2>/dev/null | $(GO) run ./cmd/benchguard -changelog CHANGELOG.md
endif

bench-baseline:
	mkdir -p bench
	$(call bench-guard-run,bench/$(RELEASE).txt)

# Ten minutes or so; a count, for the reason above.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30000000x ./internal/decode
	$(GO) test -run '^$$' -fuzz FuzzGroupMatchesPprof -fuzztime 10000000x ./internal/group
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 30000000x ./internal/dump
	$(GO) test -run '^$$' -fuzz FuzzToPprof -fuzztime 10000000x ./internal/otlpprofile
