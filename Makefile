# mikrobill: `make run` builds everything and serves on 127.0.0.1:3000;
# `make test` runs every module's tests with the race detector.
# Every target prints what it does. Tool versions are pinned here and in
# proto/buf.gen.yaml and run through `go run`, so nothing needs installing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

VERSION       ?= 0.1.0
BUF_VERSION   := v1.75.0
BUF           := go run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
GO            ?= go
BIN           := bin
PLUGIN_DIRS   := $(sort $(dir $(wildcard plugins/*/plugin.json)))
# payment-template is a starting point for integrators, not a gateway to
# install: it is tested, never built into bin/plugins.
PLUGINS       := $(filter-out payment-template,$(notdir $(patsubst %/,%,$(PLUGIN_DIRS))))
MODULES       := sdk host $(patsubst %/,%,$(dir $(wildcard plugins/*/go.mod)))
LDFLAGS       := -X github.com/mikrobill/mikrobill/host/internal/version.Version=$(VERSION)
# Test parallelism: these machines have 2 cores.
TEST_FLAGS    ?= -race -count=1 -timeout 25m
BENCH_FLAGS   ?= -run '^$$' -benchmem -count=1 -timeout 30m
# Fuzzing (docs/fuzzing.md): every native Go fuzz target, as
# <module>:<package>:<target>. `go test` runs their seed corpora
# (testdata/fuzz/<target>/ and f.Add) as ordinary tests; `make fuzz` runs
# each target, one at a time, for FUZZTIME; FUZZ picks the targets whose
# name or package matches a regular expression.
FUZZTIME      ?= 5s
FUZZ          ?= .
# How long the fuzzer may minimize an input (a failing one, or one that
# found new coverage): go's default, 60s, would spend a short run on one.
FUZZMINIMIZE  ?= 100x
# Chaos (docs/chaos.md): the scenarios whose name matches CHAOS run, one
# after another, each bounded by its own deadline; they take about 3
# minutes on 2 cores. The timeout is above the sum of their deadlines (295
# s, the builds included) and their cleanups, so a slow scenario fails with
# its own message and stops what it started; go test's timeout would end it
# with neither, leaving its PostgreSQL running.
CHAOS         ?= .
CHAOS_FLAGS   ?= -count=1 -timeout 7m
FUZZ_TARGETS  := \
	host:./internal/manifest:FuzzParse \
	host:./internal/manifest:FuzzValidateSettings \
	host:./internal/lockfile:FuzzParse \
	host:./internal/config:FuzzApplyFile \
	sdk:./routertest:FuzzReadSentence \
	sdk:./routertest:FuzzLength \
	plugins/mikrotik:.:FuzzReplyWire \
	plugins/payment-manual:.:FuzzHandleWebhook \
	plugins/payment-midtrans:.:FuzzHandleWebhook \
	plugins/payment-stripe:.:FuzzHandleWebhook \
	plugins/payment-template:.:FuzzHandleWebhook \
	plugins/payment-tripay:.:FuzzHandleWebhook \
	plugins/payment-xendit:.:FuzzHandleWebhook

.PHONY: build run fake-router marketplace-demo node-gateway test test-backends chaos fuzz lint generate check-generate bench tidy clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

# Plugins are built without cgo: static executables start without the
# dynamic loader and C threads, a few milliseconds of CPU less per plugin
# process at every start. They are built without the symbol table and the
# DWARF debugging data (-s -w), which nothing reads at run time (stack
# traces come from the executable's own function tables): a third smaller,
# so a third less for the host to hash against plugins.lock before it runs
# one, and to download from a marketplace (docs/BENCHMARKS.md, "/ready").
PLUGIN_LDFLAGS := -s -w
build: ## build bin/mikrobill and every plugin into bin/plugins/<name>/, then lock them
	@echo "==> building $(BIN)/mikrobill $(VERSION)"
	@$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/mikrobill ./host/cmd/mikrobill
	@for p in $(PLUGINS); do \
		echo "==> building plugin $$p into $(BIN)/plugins/$$p/"; \
		mkdir -p $(BIN)/plugins/$$p; \
		cp plugins/$$p/plugin.json $(BIN)/plugins/$$p/plugin.json; \
		(cd plugins/$$p && CGO_ENABLED=0 $(GO) build -ldflags '$(PLUGIN_LDFLAGS)' -o ../../$(BIN)/plugins/$$p/mikrobill-plugin-$$p .); \
	done
	@echo "==> locking the plugins just built (bin/plugins/plugins.lock)"
	@$(BIN)/mikrobill plugin lock --plugin-dir $(BIN)/plugins >/dev/null

run: build ## build, then serve (127.0.0.1:3000 unless HOST, PORT or mikrobill.hcl say otherwise; embedded SQLite, in-memory cache)
	@echo "==> starting mikrobill serve: its \"serving\" line shows the address it listens on (Ctrl-C stops)"
	@$(BIN)/mikrobill serve

fake-router: ## run a fake MikroTik router (RouterOS API) on 127.0.0.1:8728 for a local demo; see README
	@echo "==> fake RouterOS API on 127.0.0.1:$${ROUTER_PORT:-8728}, user admin, password demo (Ctrl-C stops)"
	@cd sdk && $(GO) run ./routertest/cmd/fake-routeros --listen 127.0.0.1:$${ROUTER_PORT:-8728} --username admin --password demo

MARKET_DEMO   := $(BIN)/marketplace-demo

marketplace-demo: build ## make a local plugin marketplace in bin/marketplace-demo from the bundled plugins, and say how to trust it
	@echo "==> making a fresh demo marketplace in $(MARKET_DEMO) (its keys in $(MARKET_DEMO)/keys)"
	@rm -rf $(MARKET_DEMO)
	@$(BIN)/mikrobill marketplace init $(MARKET_DEMO) --publisher "mikrobill demo" >/dev/null
	@echo "==> publishing every bundled plugin: $(PLUGINS)"
	@$(BIN)/mikrobill marketplace publish $(addprefix $(BIN)/plugins/,$(PLUGINS)) --repo $(MARKET_DEMO)
	@echo "==> trust it (then \`mikrobill plugin search\`, or the admin UI's Marketplace page after make run):"
	@echo "    $(BIN)/mikrobill marketplace add demo file://$(abspath $(MARKET_DEMO))/repository --root $(MARKET_DEMO)/root.json"
	@echo "    (or serve it over HTTP: $(BIN)/mikrobill marketplace serve $(MARKET_DEMO); its timestamp expires in a day: $(BIN)/mikrobill marketplace refresh $(MARKET_DEMO))"

node-gateway: ## assemble the Node.js example plugin into bin/examples/node-gateway/ (needs node and npm; make build never does)
	@echo "==> assembling examples/node-gateway into $(BIN)/examples/node-gateway/ (npm ci, proto/ copied in)"
	@rm -rf $(BIN)/examples/node-gateway && mkdir -p $(BIN)/examples/node-gateway
	@cd examples/node-gateway && cp -r package.json package-lock.json plugin.json index.js protocol.js gateway.js scripts mikrobill-plugin-node-gateway ../../$(BIN)/examples/node-gateway/
	@cd $(BIN)/examples/node-gateway && npm ci --no-audit --no-fund --ignore-scripts && node scripts/copy-proto.js ../../../proto
	@echo "==> install it: copy $(BIN)/examples/node-gateway into the plugin directory, then mikrobill plugin lock node-gateway"

# The host's tests take longest and mostly wait on processes, servers and
# browsers, so they run in the background beside the other modules' (one
# after another); the host's output follows theirs. Every module runs to
# the end, and the target fails when any module failed.
test: ## run every module's tests with -race (the host's beside the others), then say which backends the store's contract suite ran on
	@hostlog=$$(mktemp); backendlog=$$(mktemp); trap 'rm -f $$hostlog $$backendlog' EXIT; start=$$SECONDS; \
	echo "==> go test $(TEST_FLAGS) ./... in host (in the background; its output follows the other modules')"; \
	( cd host || exit 1; $(GO) test $(TEST_FLAGS) -v ./internal/store/ ./internal/cache/ >$$backendlog 2>&1 & bpid=$$!; \
	  $(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v -e '/internal/store$$' -e '/internal/cache$$') && rc=0 || rc=$$?; \
	  wait $$bpid || { rc=1; grep -aE -- '^(--- FAIL|FAIL|ok|panic)|_test\.go:[0-9]+:' $$backendlog || true; }; \
	  grep -aE '^(ok|FAIL)\s' $$backendlog || true; exit $$rc ) >$$hostlog 2>&1 & hostpid=$$!; \
	failed=""; \
	for m in $(filter-out host,$(MODULES)); do \
		echo "==> go test $(TEST_FLAGS) ./... in $$m"; s=$$SECONDS; \
		(cd $$m && $(GO) test $(TEST_FLAGS) ./...) || failed="$$failed $$m"; \
		echo "    ($$m: $$((SECONDS - s)) s)"; \
	done; \
	echo "==> waiting for the host's tests"; \
	wait $$hostpid || failed="$$failed host"; \
	echo "==> go test $(TEST_FLAGS) ./... in host ($$((SECONDS - start)) s since the start):"; cat $$hostlog; \
	if [ -n "$$failed" ]; then echo "==> tests failed in:$$failed"; exit 1; fi; \
	$(MAKE) --no-print-directory test-backends BACKENDLOG=$$backendlog

test-backends: ## count the store's contract suite and the Redis cache tests per backend, from BACKENDLOG (make test's verbose run of them) or a run of its own (PostgreSQL and the shared Redis need MIKROBILL_TEST_POSTGRES_URL and MIKROBILL_TEST_REDIS_URL)
	@echo "==> the store's contract suite and the Redis cache, per backend"
	@log="$(BACKENDLOG)"; \
	if [ -z "$$log" ]; then log=$$(mktemp); trap 'rm -f $$log' EXIT; \
		(cd host && $(GO) test -count=1 -v ./internal/store/ ./internal/cache/) > $$log 2>&1 || { cat $$log; exit 1; }; fi; \
	for b in sqlite postgres; do \
		pass=$$(grep -acE -- "--- PASS: .*/$$b " $$log || true); skip=$$(grep -acE -- "--- SKIP: .*/$$b " $$log || true); \
		echo "    $$b: $$pass passed, $$skip skipped"; \
	done; \
	if [ -n "$${MIKROBILL_TEST_POSTGRES_URL:-}" ] && grep -aqE -- "--- SKIP: .*/postgres " $$log; then \
		echo "MIKROBILL_TEST_POSTGRES_URL is set but PostgreSQL runs were skipped"; exit 1; fi; \
	for b in own_server shared_server; do \
		pass=$$(grep -acE -- "--- PASS: TestRedis/$$b/" $$log || true); skip=$$(grep -acE -- "--- SKIP: TestRedis/$$b" $$log || true); \
		echo "    redis ($${b/_/ }): $$pass passed, $$skip skipped"; \
	done

chaos: ## run the chaos scenarios (docs/chaos.md): hosts SIGKILLed, a payment plugin SIGKILLed, PostgreSQL restarted, Redis stopped, the leader killed, under webhook load; CHAOS=regexp picks scenarios
	@echo "==> go test -tags chaos $(CHAOS_FLAGS) -run '^TestChaos.*(?:$(CHAOS))' ./internal/cli/ in host (real hosts on a PostgreSQL and a Redis of the test's own)"
	@start=$$SECONDS; cd host && $(GO) test -tags chaos $(CHAOS_FLAGS) -v -run '^TestChaos.*(?:$(CHAOS))' ./internal/cli/ && rc=0 || rc=$$?; \
	echo "==> chaos: $$((SECONDS - start)) s"; \
	if [ $$rc -ne 0 ]; then echo "==> chaos failed: a failing scenario prints the end of each of its hosts' logs"; fi; exit $$rc

fuzz: ## run every fuzz target for FUZZTIME (5s) each, one at a time (FUZZ=regexp picks targets); a failure leaves its input in the package's testdata/fuzz/<target>/
	@failed=""; ran=0; \
	for t in $(FUZZ_TARGETS); do \
		IFS=: read -r mod pkg name <<< "$$t"; \
		[[ "$$mod/$$pkg:$$name" =~ $(FUZZ) ]] || continue; \
		ran=$$((ran + 1)); \
		echo "==> go test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg in $$mod"; \
		corpus="$$mod/$$pkg/testdata/fuzz/$$name"; before=$$( (ls "$$corpus" 2>/dev/null || true) | wc -l); \
		if ! (cd $$mod && $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg); then \
			if [ "$$( (ls "$$corpus" 2>/dev/null || true) | wc -l)" = "$$before" ]; then \
				echo "==> $$name failed without writing an input (Go 1.26's fuzz coordinator can report \"context deadline exceeded\" as -fuzztime ends: go.dev/issue/75804); running it once more"; \
				(cd $$mod && $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg) || failed="$$failed $$mod/$$pkg:$$name"; \
			else failed="$$failed $$mod/$$pkg:$$name"; fi; \
		fi; \
	done; \
	if [ $$ran -eq 0 ]; then echo "no fuzz target matches FUZZ=$(FUZZ)"; exit 1; fi; \
	if [ -n "$$failed" ]; then echo "==> fuzzing failed in:$$failed (the failing inputs are in each package's testdata/fuzz/)"; exit 1; fi; \
	echo "==> $$ran fuzz targets ran $(FUZZTIME) each without a failure"

bench: build ## run the benchmarks; the *Ratio ones print ours-vs-baseline ratios (docs/BENCHMARKS.md)
	@echo "==> machine: $$(nproc) cores, $$(awk '/MemTotal/ {printf "%.0f GiB", $$2/1048576}' /proc/meminfo), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
	@for m in $(MODULES); do \
		echo "==> ratio benchmarks in $$m (one run each, baseline interleaved)"; \
		(cd $$m && $(GO) test $(BENCH_FLAGS) -bench Ratio -benchtime 1x ./...); \
		echo "==> other benchmarks in $$m"; \
		(cd $$m && $(GO) test $(BENCH_FLAGS) -bench . -skip Ratio ./...); \
	done

lint: ## go vet, gofmt, buf lint, and each plugin building on its own (GOWORK=off)
	@echo "==> gofmt"
	@out=$$(gofmt -l sdk host plugins); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do echo "==> go vet in $$m"; (cd $$m && $(GO) vet ./...); done
	@for m in $(filter plugins/%,$(MODULES)); do echo "==> GOWORK=off go build in $$m"; (cd $$m && GOWORK=off $(GO) build ./...); done
	@echo "==> buf lint"
	@cd proto && $(BUF) lint

generate: ## regenerate sdk/internal/pb from proto/ with the pinned tools
	@echo "==> buf generate (buf $(BUF_VERSION); plugin versions in proto/buf.gen.yaml)"
	@cd proto && $(BUF) generate

check-generate: generate ## fail when the committed generated code differs from what generate writes
	@echo "==> checking that sdk/internal/pb is what make generate writes"
	@git diff --exit-code --stat -- sdk/internal/pb || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- sdk/internal/pb)" || { echo "untracked generated files: run make generate and commit"; git status --porcelain -- sdk/internal/pb; exit 1; }

tidy: ## go mod tidy in every module
	@for m in $(MODULES); do echo "==> go mod tidy in $$m"; (cd $$m && $(GO) mod tidy); done

clean: ## remove build output
	rm -rf $(BIN)
