# ops-worker: every command a developer or CI needs.
SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

# Every package runs under the race detector except these: the embedded
# database (go-mysql-server is large, slow to build with -race, and used by
# one goroutine at a time).
RACE_EXCEPTIONS := internal/memsql
PLAIN_PKGS := $(addprefix ./,$(RACE_EXCEPTIONS))
empty :=
space := $(empty) $(empty)
RACE_PKGS := $(shell $(GO) list ./... | grep -v -E '/($(subst $(space),|,$(strip $(RACE_EXCEPTIONS))))$$')

.PHONY: all build test test-race test-plain test-ticks soak lint lint-template fmt vet tidy-check fuzz bench bench-db bench-winrm bench-api bench-ticks bench-stream labsim run image clean lambdas lambda-catalog

all: lint test

build:
	$(GO) build ./...

test: lint test-plain test-race

test-plain:
	$(GO) test -count=1 $(PLAIN_PKGS)

test-race:
	$(GO) test -count=1 -race $(RACE_PKGS)

# The scheduler's exactly-once tests TICK_REPS times over (make test runs
# each once): 8 ticks at once, 3 local servers in one process and 3 local
# servers as separate processes of the built binary, each over 1,000
# bookings on 100 labsim stations, then the fault tests (connections killed,
# mariadbd restarted). Zero duplicates, zero misses, every time. Only the
# === RUN lines are dropped from -v: a failure's report (several lines, the
# servers' logs) stays whole.
TICK_REPS ?= 10
test-ticks:
	set -o pipefail; OPS_TEST_TICK_REPS=$(TICK_REPS) $(GO) test -count=1 -timeout 60m -v -run 'ExactlyOnce' ./internal/scheduler ./cmd/ops-worker | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'
	$(GO) test -count=$(TICK_REPS) -timeout 60m -run 'ConnectionsKilled|DatabaseRestart' ./internal/scheduler

# Issue 9's soak (not part of `make test`): a compressed day of
# SOAK_RESERVATIONS bookings over SOAK_STATIONS labsim stations with random
# station faults (hangs, failures, stations dying mid-call, slow boots,
# blackholed sleep) and SOAK_DB_RESTARTS restarts of a private mariadbd in
# the middle of tick rounds; SOAK_TICKS worker instances (own pools) tick
# at once every round, the controlled clock SOAK_STEP_SECONDS apart (120:
# a 2-minute scan interval; the full size takes about half an hour). It
# prints a summary (final states, failures by reason, double dispatches,
# lost records, ticks, restarts, wall time) and fails on a double dispatch,
# a lost record or a booking left without a recorded reason.
SOAK_RESERVATIONS ?= 10000
SOAK_STATIONS     ?= 200
SOAK_DB_RESTARTS  ?= 3
SOAK_TICKS        ?= 3
SOAK_STEP_SECONDS ?= 120
SOAK_FAULT_RATE   ?= 0.002
SOAK_SEED         ?= 1
SOAK_FLOW_TIMEOUT_SECONDS ?= 3
SOAK_SLOW_BOOT    ?= 0.02
SOAK_TIMEOUT      ?= 180m
soak:
	OPS_SOAK=1 SOAK_RESERVATIONS=$(SOAK_RESERVATIONS) SOAK_STATIONS=$(SOAK_STATIONS) SOAK_DB_RESTARTS=$(SOAK_DB_RESTARTS) \
	SOAK_TICKS=$(SOAK_TICKS) SOAK_STEP_SECONDS=$(SOAK_STEP_SECONDS) SOAK_FAULT_RATE=$(SOAK_FAULT_RATE) SOAK_FLOW_TIMEOUT_SECONDS=$(SOAK_FLOW_TIMEOUT_SECONDS) SOAK_SLOW_BOOT=$(SOAK_SLOW_BOOT) SOAK_SEED=$(SOAK_SEED) \
	$(GO) test -count=1 -v -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' ./internal/soak

lint: fmt vet

# The SAM template against AWS's linter (cfn-lint runs the SAM transform
# too). It installs nothing: where cfn-lint is absent it says so loudly and
# passes, so a developer machine without it can still run everything else.
CFN_LINT ?= cfn-lint
lint-template:
	@if command -v $(CFN_LINT) >/dev/null 2>&1; then \
		echo "== $(CFN_LINT) template.yaml ($$($(CFN_LINT) --version))"; \
		$(CFN_LINT) template.yaml; \
	else \
		echo "!!!!!!!! SKIPPED: cfn-lint not found: template.yaml was not linted !!!!!!!!"; \
	fi

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy-check:
	cp go.mod /tmp/go.mod.bak && cp go.sum /tmp/go.sum.bak
	$(GO) mod tidy
	@if ! diff -q go.mod /tmp/go.mod.bak >/dev/null || ! diff -q go.sum /tmp/go.sum.bak >/dev/null; then \
		echo "go mod tidy changes go.mod/go.sum"; cp /tmp/go.mod.bak go.mod; cp /tmp/go.sum.bak go.sum; exit 1; fi

# Short fuzz runs of every parser (go test -fuzz takes one target at a time).
# A bounded minimisation keeps a run from ending in "context deadline
# exceeded" when the time runs out while an input is being shrunk.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime=200x ./internal/hosts
	$(GO) test -run '^$$' -fuzz '^FuzzParseDSN$$' -fuzztime $(FUZZTIME) -fuzzminimizetime=200x ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzLegacyEnv_NoSecret$$' -fuzztime $(FUZZTIME) -fuzzminimizetime=200x ./internal/config
	@for pkg in ./internal/fernet ./internal/legacyimport ./internal/labstation ./internal/labsim ./internal/netaddr ./internal/winrm ./internal/relayproto ./relay; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime=200x $$pkg || exit 1; \
		done; \
	done

BENCHSTAT := $(HOME)/go/bin/benchstat
$(BENCHSTAT):
	$(GO) install golang.org/x/perf/cmd/benchstat@latest

# Candidate scans on 1M history + 100k future reservations + 1M operations.
bench-db: $(BENCHSTAT)
	mkdir -p bench
	$(GO) test -run '^$$' -v -bench '^BenchmarkScan$$' -benchtime 2000x -count 10 -timeout 30m ./internal/store | tee bench/db.txt
	$(BENCHSTAT) bench/db.txt

# 200 labsim hosts, 20 ms per WinRM request, 32 polls in flight.
bench-winrm: $(BENCHSTAT)
	mkdir -p bench
	$(GO) test -run '^$$' -bench 'HeartbeatPoll200' -benchtime 1x -count 6 -timeout 30m ./internal/lab/... ./internal/winrm/... | tee bench/winrm.txt
	$(BENCHSTAT) bench/winrm.txt

# The local server under a real load generator (vegeta, closed loop, on
# loopback): GET /health (no database, then the embedded one) and POST
# /api/winrm "status" to zero-latency labsim stations, next to lab.Direct
# alone for the same stations; req/s, p50/p99 and the server's RSS. The
# second table sets the API beside the direct call (the overhead).
BENCH_API_TIME  ?= 3s
BENCH_API_COUNT ?= 6
bench-api: $(BENCHSTAT)
	mkdir -p bench
	set -o pipefail; { echo "# loadavg before: $$(cat /proc/loadavg)"; \
	$(GO) test -run '^$$' -bench . -benchtime $(BENCH_API_TIME) -count $(BENCH_API_COUNT) -timeout 30m ./cmd/ops-worker; \
	echo "# loadavg after: $$(cat /proc/loadavg)"; } | tee bench/api.txt
	$(BENCHSTAT) bench/api.txt
	$(BENCHSTAT) -filter '.name:Command' -col /via bench/api.txt

# Issue 9's heartbeat-tick benchmarks, through scheduler.HeartbeatTick over
# ops.Service and lab.Direct (WinRM over HTTPS + NTLM to labsim, 20 ms per
# request, labsim in the same process on the same cores): 500 stations with
# and without the MariaDB store at 32/64/128 in flight (wall time vs ideal =
# ceil(500/c) x requests-per-poll x 20 ms), then polls/s over
# BENCH_TICKS_HOSTS stations at 32..512 in flight (x60 = stations one 60 s
# tick polls; 3 ticks per sample after the warm-up: one alone varies by
# +-20%). Load averages go in the file: the figures depend on them.
BENCH_TICKS_HOSTS ?= 2000
BENCH_TICKS_COUNT ?= 6
bench-ticks: $(BENCHSTAT)
	mkdir -p bench
	set -o pipefail; { echo "# loadavg before: $$(cat /proc/loadavg)"; \
	$(GO) test -run '^$$' -bench 'HeartbeatTick500' -benchtime 1x -count $(BENCH_TICKS_COUNT) -timeout 30m ./internal/scheduler; \
	echo "# loadavg between: $$(cat /proc/loadavg)"; \
	OPS_BENCH_CAPACITY_HOSTS=$(BENCH_TICKS_HOSTS) $(GO) test -run '^$$' -bench 'HeartbeatTickCapacity' -benchtime 3x -count $(BENCH_TICKS_COUNT) -timeout 60m ./internal/scheduler; \
	echo "# loadavg after: $$(cat /proc/loadavg)"; } | tee bench/ticks.txt
	$(BENCHSTAT) bench/ticks.txt

bench: bench-db bench-winrm bench-api bench-ticks

labsim:
	$(GO) run ./cmd/labsim -hosts 3

# `make run`: the whole worker with nothing to set up. RUN_HOSTS simulated
# Lab Stations (labsim) on fixed loopback ports, with a CA kept in .run/ so
# .run/hosts.json stays valid from one run to the next; the local server on
# 127.0.0.1:RUN_PORT with the embedded in-memory database and a demo token.
# The database holds two demo reservations: demo-1 (lab 1, tomorrow) for the
# README's curl lines, and demo-2 (lab 2 on lab-ws-02, which labsim starts
# asleep) from 3 minutes after start-up for 3 minutes, which the reservation
# tick (on, every RUN_SCAN_INTERVAL s) wakes, prepares and marks ACTIVE, then
# releases, powers off and marks COMPLETED. The heartbeat tick polls every
# station every RUN_POLL_INTERVAL s (the first right at start-up). The
# embedded database also holds Guacamole connection tables (the demo's
# connections) that GET /api/hosts links the stations to. With RUN_MYSQL_DSN
# there are no demo reservations or Guacamole connections and the
# reservation tick stays off (it would act on real bookings).
# Ctrl-C stops the server gracefully, then labsim. Every packet stays on
# loopback (the catalog's broadcast address is 127.0.0.1).
RUN_DIR       := .run
RUN_HOSTS     ?= 3
RUN_BASE_PORT ?= 29500
# Lab Station health endpoints (discovery): host i on RUN_HEALTH_BASE_PORT+i.
RUN_HEALTH_BASE_PORT ?= 29700
# A provisioning candidate: one more station than RUN_HOSTS, left out of
# hosts.json (labsim -unlisted-hosts); the demo's Guacamole connection 4
# points at it as localhost, so discovery and provisioning run end to end
# (the README's last curl lines). Its WinRM and health ports are the ones
# discovery probes; OPS_PROVISION_DEFAULTS gives a provisioned host the
# loopback broadcast, the candidate's wake port and labsim's CA.
RUN_LABSIM_HOSTS = $(shell echo $$(( $(RUN_HOSTS) + 1 )))
RUN_CANDIDATE    = $(shell printf 'lab-ws-%02d' $(RUN_LABSIM_HOSTS))
RUN_CAND_HTTPS   = $(shell echo $$(( $(RUN_BASE_PORT) + 3 * $(RUN_HOSTS) )))
RUN_CAND_WAKE    = $(shell echo $$(( $(RUN_BASE_PORT) + 3 * $(RUN_HOSTS) + 2 )))
RUN_CAND_HEALTH  = $(shell echo $$(( $(RUN_HEALTH_BASE_PORT) + $(RUN_HOSTS) )))
# The credential store's key for this demo only (32 bytes, URL-safe base64).
RUN_SECRETS_KEY ?= b3BzLXdvcmtlci1kZW1vLWtleS1ub3Qtc2VjcmV0ISE=
# The demo's bench power: a simulated APC PDU (pdusim, SNMP v2c on
# 127.0.0.1:RUN_PDU_PORT, two outlets) that lab 2's policy switches around
# demo-2 (outlet 1 on before the wake, off after the power-down).
RUN_PDU_PORT      ?= 29800
RUN_PDU_COMMUNITY ?= demo-pdu-write
RUN_PORT      ?= 8081
RUN_TOKEN     ?= dev-token
RUN_MYSQL_DSN ?=
RUN_SCAN_INTERVAL ?= 10
RUN_POLL_INTERVAL ?= 30
RUN_DEMO = $(if $(RUN_MYSQL_DSN),,$(shell [ $(RUN_HOSTS) -ge 2 ] && echo yes))

run:
	@mkdir -p $(RUN_DIR)
	$(GO) build -o $(RUN_DIR)/labsim ./cmd/labsim
	$(GO) build -o $(RUN_DIR)/ops-worker ./cmd/ops-worker
	$(GO) build -o $(RUN_DIR)/pdusim ./cmd/pdusim
	@rm -f $(RUN_DIR)/hosts.json; \
	$(RUN_DIR)/labsim -hosts $(RUN_LABSIM_HOSTS) -unlisted-hosts $(RUN_CANDIDATE) -base-port $(RUN_BASE_PORT) -health-base-port $(RUN_HEALTH_BASE_PORT) -ca-dir $(RUN_DIR)/labsim-ca $(if $(RUN_DEMO),-asleep-hosts lab-ws-02) \
		-out $(RUN_DIR)/hosts.json >$(RUN_DIR)/labsim.log 2>&1 & labsim=$$!; \
	PDUSIM_WRITE_COMMUNITY='$(RUN_PDU_COMMUNITY)' $(RUN_DIR)/pdusim -snmp-port $(RUN_PDU_PORT) -netio-port -1 -outlets 2 >$(RUN_DIR)/pdusim.log 2>&1 & pdusim=$$!; \
	trap 'kill $$labsim $$pdusim 2>/dev/null; wait $$labsim $$pdusim 2>/dev/null' EXIT; \
	for i in $$(seq 100); do [ -s $(RUN_DIR)/hosts.json ] && break; kill -0 $$labsim 2>/dev/null || break; sleep 0.1; done; \
	if [ ! -s $(RUN_DIR)/hosts.json ]; then echo "labsim did not start:"; cat $(RUN_DIR)/labsim.log; exit 1; fi; \
	echo; \
	echo "ops-worker demo on http://127.0.0.1:$(RUN_PORT): $(RUN_HOSTS) simulated Lab Stations (lab-ws-01..), labsim log in $(RUN_DIR)/labsim.log"; \
	echo "API token: $(RUN_TOKEN)  (LAB_MANAGER_TOKEN for this local demo only: never use it anywhere else)"; \
	echo "Database: $(if $(RUN_MYSQL_DSN),the one RUN_MYSQL_DSN names,in memory: everything is lost when the server stops)"; \
	$(if $(RUN_MYSQL_DSN),,echo "Reservation demo-1 (lab 1 on lab-ws-01, CONFIRMED, tomorrow) is in the database for the curl lines of README.md.";) \
	if [ -n "$(RUN_DEMO)" ]; then \
	echo "Automation demo: reservation demo-2 (lab 2 on lab-ws-02, asleep now) starts in 3 minutes and lasts 3. The reservation tick"; \
	echo "  (every $(RUN_SCAN_INTERVAL) s) wakes and prepares lab-ws-02 about 1 minute from now (2 min before the start) and marks demo-2 ACTIVE;"; \
	echo "  a minute after its end (about 7 minutes from now) it releases lab-ws-02, powers it off and marks demo-2 COMPLETED."; \
	echo "  The server logs the exact times (\"demo: reservation demo-2 ...\"). Watch each step land in the timeline:"; \
	echo "  curl -s -H 'X-Lab-Manager-Token: $(RUN_TOKEN)' 'localhost:$(RUN_PORT)/api/reservations/timeline?reservationId=demo-2'"; \
	fi; \
	echo "Heartbeat tick: every $(RUN_POLL_INTERVAL) s (the first at start-up), so GET /api/hosts shows each awake station Ready by itself."; \
	$(if $(RUN_MYSQL_DSN),,echo "Guacamole: demo connections in the embedded database link lab-ws-01 (linked) and lab-ws-02 (ambiguous); connection 4 (localhost) is $(RUN_CANDIDATE), a candidate in no catalog yet: the README's last curl lines discover and provision it.";) \
	echo "Credential store key: $(RUN_SECRETS_KEY) (OPS_SECRETS_KEY for this local demo only)"; \
	$(if $(RUN_DEMO),echo "Bench power: a simulated PDU (pdusim, udp 127.0.0.1:$(RUN_PDU_PORT), log $(RUN_DIR)/pdusim.log); lab 2's policy switches its outlets around demo-2 (power:on / power:off in the timeline).";) \
	echo "Try:  curl -s localhost:$(RUN_PORT)/health"; \
	echo "      curl -s -H 'X-Lab-Manager-Token: $(RUN_TOKEN)' localhost:$(RUN_PORT)/api/hosts"; \
	echo "Stop: Ctrl-C"; \
	echo; \
	OPS_CONFIG=$(RUN_DIR)/hosts.json OPS_BIND=127.0.0.1 OPS_PORT=$(RUN_PORT) \
	MYSQL_DSN='$(RUN_MYSQL_DSN)' LAB_MANAGER_TOKEN='$(RUN_TOKEN)' OPS_AUTH_DISABLED=false \
	OPS_POLL_ENABLED=true OPS_POLL_INTERVAL=$(RUN_POLL_INTERVAL) \
	OPS_SECRETS_KEY='$(RUN_SECRETS_KEY)' OPS_DISCOVERY_WINRM_PORT=$(RUN_CAND_HTTPS) OPS_DISCOVERY_LABSTATION_PORTS=$(RUN_CAND_HEALTH) \
	OPS_PROVISION_DEFAULTS='{"broadcast": "127.0.0.1", "wol_port": $(RUN_CAND_WAKE), "wake_check": "tcp", "winrm_ca_file": "$(CURDIR)/$(RUN_DIR)/labsim-ca/labsim-ca.pem"}' \
	$(if $(RUN_DEMO),OPS_RESERVATION_AUTOMATION=true OPS_RESERVATION_SCAN_INTERVAL=$(RUN_SCAN_INTERVAL)) \
	DEMO_PDU_COMMUNITY='$(RUN_PDU_COMMUNITY)' \
	$(RUN_DIR)/ops-worker -log-format text $(if $(RUN_MYSQL_DSN),,-demo-reservation) $(if $(RUN_DEMO),-demo-pdu 127.0.0.1:$(RUN_PDU_PORT))

# `make image`: the local server as a container image FROM scratch (see
# Dockerfile). The build context is bin/image: the static binary, the build
# host's CA bundle, a one-line passwd/group for the non-root user 65532 and
# an empty /tmp, laid out as the image's root. No registry is needed.
# IMAGE_TAGS: the binary leaves the embedded database out (66 MB -> 11 MB):
# a container runs on MYSQL_DSN; IMAGE_TAGS= keeps it, for a trial image.
# IMAGE_BUILD is the builder; with Docker: make image IMAGE_BUILD='docker build'.
IMAGE        ?= ops-worker:dev
IMAGE_CTX    ?= bin/image
IMAGE_TAGS   ?= noembeddeddb
IMAGE_BUILD  ?= podman build --format docker --layers=false
IMAGE_SIZE   ?= podman image inspect --format '{{.Size}}'
CA_BUNDLE    ?= /etc/ssl/certs/ca-certificates.crt

image:
	@test -s $(CA_BUNDLE) || { echo "no CA bundle at $(CA_BUNDLE) (apt-get install ca-certificates, or make image CA_BUNDLE=...)"; exit 1; }
	rm -rf $(IMAGE_CTX)
	mkdir -p $(IMAGE_CTX)/rootfs/usr/local/bin $(IMAGE_CTX)/rootfs/etc/ssl/certs $(IMAGE_CTX)/rootfs/tmp
	CGO_ENABLED=0 GOOS=linux $(GO) build -tags '$(IMAGE_TAGS)' -trimpath -ldflags '-s -w' -o $(IMAGE_CTX)/rootfs/usr/local/bin/ops-worker ./cmd/ops-worker
	install -m 0644 $(CA_BUNDLE) $(IMAGE_CTX)/rootfs/etc/ssl/certs/ca-certificates.crt
	printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >$(IMAGE_CTX)/rootfs/etc/passwd
	printf 'root:x:0:\nnonroot:x:65532:\n' >$(IMAGE_CTX)/rootfs/etc/group
	chmod 0644 $(IMAGE_CTX)/rootfs/etc/passwd $(IMAGE_CTX)/rootfs/etc/group
	chmod 1777 $(IMAGE_CTX)/rootfs/tmp
	$(IMAGE_BUILD) -t $(IMAGE) -f Dockerfile $(IMAGE_CTX)
	@bytes=$$($(IMAGE_SIZE) $(IMAGE)); \
	echo "$(IMAGE): $$(numfmt --to=si --suffix=B --round=nearest --format=%.1f $$bytes) ($$bytes bytes; binary $$(numfmt --to=si --suffix=B --round=nearest --format=%.1f $$(stat -c %s $(IMAGE_CTX)/rootfs/usr/local/bin/ops-worker)))"

# ---- AWS Lambda: one function per endpoint (functions/<name>, template.yaml)
#
# `make lambdas` builds every function as bin/lambdas/<name>/bootstrap and
# prints the sizes. `sam build` (template.yaml: BuildMethod makefile, CodeUri
# .) runs build-<LogicalId>, which writes bootstrap, and the host catalog
# file when there is one, into $(ARTIFACTS_DIR). By default the functions
# need no file (template HostsCatalog=database: OPS_CONFIG=none, every host
# from the database's ops_catalog_hosts), so a fresh clone builds as it is.
# A file is packaged as /var/task/hosts.json (HostsCatalog=packaged) when
# LAMBDA_HOSTS_JSON (default: the file OPS_CONFIG names, else ./hosts.json)
# exists; given explicitly (make ... LAMBDA_HOSTS_JSON=path, or in the
# environment) it must exist.
# LAMBDA_GOARCH must match the template's Architecture parameter (arm64,
# the default, or amd64 for x86_64).
LAMBDA_FUNCTIONS  := $(sort $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go)))
LAMBDA_DIR        ?= bin/lambdas
LAMBDA_GOARCH     ?= arm64
LAMBDA_HOSTS_JSON ?= $(or $(OPS_CONFIG),hosts.json)
LAMBDA_ENV        := CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH)
LAMBDA_GOFLAGS    := -tags lambda.norpc -trimpath -ldflags='-s -w'

lambdas:
	@rm -rf $(LAMBDA_DIR)/.out && mkdir -p $(LAMBDA_DIR)/.out
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(LAMBDA_DIR)/.out/ $(addprefix ./functions/,$(LAMBDA_FUNCTIONS))
	@for f in $(LAMBDA_FUNCTIONS); do mkdir -p $(LAMBDA_DIR)/$$f && mv $(LAMBDA_DIR)/.out/$$f $(LAMBDA_DIR)/$$f/bootstrap; done; rmdir $(LAMBDA_DIR)/.out
	@echo "linux/$(LAMBDA_GOARCH) function binaries in $(LAMBDA_DIR):"; \
	for f in $(LAMBDA_FUNCTIONS); do \
		b=$$(stat -c %s $(LAMBDA_DIR)/$$f/bootstrap); \
		printf '  %-22s %9d bytes  %5.1f MB\n' $$f $$b $$(awk "BEGIN{print $$b/1048576}"); \
	done

lambda-catalog:
	@if [ -z "$(ARTIFACTS_DIR)" ]; then echo "ARTIFACTS_DIR is not set (sam build sets it)"; exit 1; fi
	mkdir -p $(ARTIFACTS_DIR)
ifeq ($(origin LAMBDA_HOSTS_JSON),file)
	@if [ -f "$(LAMBDA_HOSTS_JSON)" ]; then cp $(LAMBDA_HOSTS_JSON) $(ARTIFACTS_DIR)/hosts.json; \
	else echo "no host catalog file ($(LAMBDA_HOSTS_JSON)): none packaged, the functions read their hosts from the database (HostsCatalog=database)"; fi
else
	@if [ ! -f "$(LAMBDA_HOSTS_JSON)" ]; then \
		echo "host catalog $(LAMBDA_HOSTS_JSON) not found: LAMBDA_HOSTS_JSON names the hosts.json to package"; exit 1; fi
	cp $(LAMBDA_HOSTS_JSON) $(ARTIFACTS_DIR)/hosts.json
endif

define lambda_artifact
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(1)
endef

build-HealthFunction: lambda-catalog
	$(call lambda_artifact,health)
build-WolFunction: lambda-catalog
	$(call lambda_artifact,wol)
build-WinrmFunction: lambda-catalog
	$(call lambda_artifact,winrm)
build-HeartbeatPollFunction: lambda-catalog
	$(call lambda_artifact,heartbeat-poll)
build-ReservationStartFunction: lambda-catalog
	$(call lambda_artifact,reservation-start)
build-ReservationEndFunction: lambda-catalog
	$(call lambda_artifact,reservation-end)
build-ReservationTimelineFunction: lambda-catalog
	$(call lambda_artifact,reservation-timeline)
build-HostsReloadFunction: lambda-catalog
	$(call lambda_artifact,hosts-reload)
build-HostsQuarantineFunction: lambda-catalog
	$(call lambda_artifact,hosts-quarantine)
build-HostsLocalModeFunction: lambda-catalog
	$(call lambda_artifact,hosts-local-mode)
build-PowerControllersListFunction: lambda-catalog
	$(call lambda_artifact,power-controllers-list)
build-PowerControllersCreateFunction: lambda-catalog
	$(call lambda_artifact,power-controllers-create)
build-PowerControllersUpdateFunction: lambda-catalog
	$(call lambda_artifact,power-controllers-update)
build-PowerCredentialsListFunction: lambda-catalog
	$(call lambda_artifact,power-credentials-list)
build-PowerCredentialsSaveFunction: lambda-catalog
	$(call lambda_artifact,power-credentials-save)
build-PowerPoliciesListFunction: lambda-catalog
	$(call lambda_artifact,power-policies-list)
build-PowerPoliciesPutFunction: lambda-catalog
	$(call lambda_artifact,power-policies-put)
build-PowerOutletCommandFunction: lambda-catalog
	$(call lambda_artifact,power-outlet-command)
build-LabPowerStartFunction: lambda-catalog
	$(call lambda_artifact,lab-power-start)
build-LabPowerEndFunction: lambda-catalog
	$(call lambda_artifact,lab-power-end)
build-PowerOperationsFunction: lambda-catalog
	$(call lambda_artifact,power-operations)
build-HostsDiscoverFunction: lambda-catalog
	$(call lambda_artifact,hosts-discover)
build-HostsProvisionFunction: lambda-catalog
	$(call lambda_artifact,hosts-provision)
build-HostsWinrmCredentialsFunction: lambda-catalog
	$(call lambda_artifact,hosts-winrm-credentials)
build-HostsListFunction: lambda-catalog
	$(call lambda_artifact,hosts-list)
build-OperationsRecentFunction: lambda-catalog
	$(call lambda_artifact,operations-recent)
build-OpenapiFunction: lambda-catalog
	$(call lambda_artifact,openapi)
build-MigrateFunction: lambda-catalog
	$(call lambda_artifact,migrate)
build-TickHeartbeatsFunction: lambda-catalog
	$(call lambda_artifact,tick-heartbeats)
build-TickReservationsFunction: lambda-catalog
	$(call lambda_artifact,tick-reservations)
build-HeartbeatStreamFunction: lambda-catalog
	$(call lambda_artifact,heartbeat-stream)

clean:
	rm -rf bin .aws-sam

# Issue 16: 1,000 heartbeat streams over 100 labsim stations at a 1 s
# interval: station reads per interval (100: one per station), events per
# stream per interval, heap and goroutines per open stream.
bench-stream:
	mkdir -p bench
	$(GO) test -run '^$$' -bench 'Streams1000' -benchtime 1x -count 3 -timeout 10m ./internal/heartbeatstream | tee bench/stream.txt

# The relay binary for Linux and Windows (issue 10).
relay-bin:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '-s -w' -o bin/ops-relay ./relay/cmd/ops-relay
	CGO_ENABLED=0 GOOS=windows $(GO) build -trimpath -ldflags '-s -w' -o bin/ops-relay.exe ./relay/cmd/ops-relay

# Issue 10: the relay's idle memory (goal <= 20 MB), the latency it adds
# to a command on loopback (goal p99 <= 3 ms), and a batch heartbeat read
# of 500 labsim stations through it against direct polling.
bench-relay:
	mkdir -p bench
	{ $(GO) test -run '^$$' -bench 'IdleRSS' -benchtime 1x -count 3 ./relay/cmd/ops-relay; \
	  $(GO) test -run '^$$' -bench 'Overhead|CommandLatency' -benchtime 2000x ./relay; \
	  $(GO) test -run '^$$' -bench 'PowerSet' -benchtime 300x -count 3 ./relay; \
	  $(GO) test -run '^$$' -bench 'Batch500' -benchtime 3x -timeout 20m ./relay; } | tee bench/relay.txt
