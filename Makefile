# Thin wrappers over cargo and `messagedb profile` / `messagedb bench` (see PROFILING.md).
# Every variable can be overridden: `make profile-baseline BACKEND=memory RUNS=5`.

BIN       ?= target/release/messagedb
BACKEND   ?= embedded
WORKLOAD  ?= reference-mix
WORKERS   ?= 10
DURATION  ?= 20s
RUNS      ?= 3
PROFILES  ?= profiles
THRESHOLD ?= 5%

.PHONY: test test-deps release profile-baseline profile profile-compare benchmark-all

# The whole test suite, from a fresh clone: installs what the browser and PostgreSQL tests need,
# then runs every test of the workspace (the PostgreSQL tests start their own throwaway clusters).
test: test-deps
	cargo test --workspace

# Debian's chromium (the web console's end-to-end test) and postgresql-15's server binaries (the
# PostgreSQL tests), installed only when missing, which needs root (scripts/test-deps.sh: one
# `apt-get update`, no `main` cluster created or started); then the console's npm packages, pinned
# by console/package-lock.json.
test-deps:
	@scripts/test-deps.sh
	cd console && npm ci --no-audit --no-fund

# The optimised binary every measurement uses (debug builds are 10-30x slower).
release:
	cargo build --release -p messagedb

# A profile bundle of the current code on the embedded durable backend: the baseline to beat.
profile-baseline: release
	$(BIN) profile --backend $(BACKEND) --workload $(WORKLOAD) --workers $(WORKERS) \
		--duration $(DURATION) --runs $(RUNS) --output-dir $(PROFILES)

# The same measurement after a change (identical settings, so the bundles compare).
profile: profile-baseline

# Side-by-side figures with verdicts; fails when a figure regressed beyond THRESHOLD.
profile-compare: release
	@if [ -z "$(BASELINE)" ] || [ -z "$(OPTIMIZED)" ]; then \
		echo "usage: make profile-compare BASELINE=<bundle> OPTIMIZED=<bundle>"; exit 2; fi
	$(BIN) bench compare $(BASELINE) $(OPTIMIZED) --fail-on-regression $(THRESHOLD)

# Micro-benchmarks of the hot paths: time and heap allocations per iteration.
benchmark-all:
	cargo bench -p messagedb-bench
