PYTHON ?= .venv/bin/python
BUF := node_modules/.bin/buf

.PHONY: tools gen check-gen

# Code-generation tools that are not Python packages. Idempotent and quiet: it does
# nothing when buf (pinned in package-lock.json) and protoc-gen-swagger are present.
tools: node_modules/.package-lock.json
	@command -v protoc-gen-swagger >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "protoc-gen-swagger is missing: sudo apt-get install -y golang-grpc-gateway" >&2; exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq golang-grpc-gateway >/dev/null 2>&1 \
	    || { apt-get update -qq && apt-get install -y -qq golang-grpc-gateway >/dev/null; }; \
	}

# npm ci rewrites node_modules/.package-lock.json, so this runs again only when the
# lock file changes (a buf upgrade) or node_modules is missing (a clean clone).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --loglevel=error --no-audit --no-fund >/dev/null
	@touch $@

# Regenerate everything derived from proto/ (see scripts/gen.py) and the generated
# tables of docs/access.md (scripts/access_doc.py); commit the result.
gen: tools
	$(PYTHON) scripts/gen.py
	$(PYTHON) scripts/access_doc.py

# Fails when the checked-in generated files are stale, or proto/ is not lint-clean
# and buf-formatted. Touches nothing in the working tree. The staleness check goes
# first: a newly imported google proto is reported as missing from proto/third_party
# (fixed by `make gen`) rather than as buf's "imported file does not exist".
check-gen: tools
	@$(PYTHON) scripts/gen.py --check
	@$(PYTHON) scripts/access_doc.py --check
	@$(BUF) lint
	@$(BUF) format --diff --exit-code --path proto/paygate
