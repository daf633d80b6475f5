# ambientd — the two contract targets are `make run` and `make test`.
# Both install what they need (npm packages, and Debian tools the tests use).

SHELL := /bin/bash
NODE_BIN := node_modules/.bin
STAMP := node_modules/.install-stamp
SYS_STAMP := .sysdeps-stamp
SCENARIO ?=
export NODE_OPTIONS ?= --enable-source-maps

.PHONY: all deps sysdeps build run test test-unit cycles lint lint-fix bench bench-full chaos clean proto-check rig rig-down ztunnel

all: build

$(STAMP): package.json package-lock.json
	@echo "ambientd: installing npm dependencies (npm ci; about a minute the first time)"
	npm ci --no-audit --no-fund
	@touch $(STAMP)

deps: $(STAMP)

# Debian tools used as independent oracles by the tests: protoc (wire bytes),
# openssl (certificates), promtool (metrics), systemd-analyze (unit files).
sysdeps:
	@bash tools/sysdeps.sh

# The bin is made executable so `npx ambientd ...` runs it from a checkout (npm sets the mode only when it
# installs a package, and dist/ is built after `npm ci`).
build: deps
	@echo "ambientd: compiling TypeScript (tsc; up to a minute)"
	$(NODE_BIN)/tsc -p tsconfig.json
	@# tsc never deletes: drop outputs whose source is gone (a moved file's stale x.js shadows its new x/ folder).
	@find dist -name '*.js' | while read -r f; do s="$${f#dist/}"; [ -f "$${s%.js}.ts" ] || rm -f "$$f" "$$f.map"; done
	@chmod +x dist/cmd/ambientd/main.js

# The daemon on the embedded default mesh (examples/default), state in .state (RUN_STATE), after minting a node
# token and the README pod's workload token for local ztunnels; tools/run-daemon.sh says why it, not make, relays
# signals. RUN_FLAGS are appended to `ambientd serve` (the tests use them for ephemeral ports).
run: build
	@exec bash tools/run-daemon.sh $(RUN_FLAGS)

# Two peered clusters with real ztunnels in network namespaces (README "Cross-cluster in five minutes"). Root;
# a ztunnel from tools/ztunnel/ensure.sh (or ZTUNNEL_BIN). MODE=flat: one network, no gateway.
rig: build sysdeps
	node dist/e2e/dataplane/rig.js up --mode $${MODE:-gateway}

rig-down: build
	node dist/e2e/dataplane/rig.js down

cycles: deps
	$(NODE_BIN)/madge --circular --extensions ts --ts-config tsconfig.json cmd pkg e2e

# eslint (typescript-eslint strict type-checked, eslint.config.mjs) and the formatter check (prettier, .prettierrc:
# 120 columns). `make lint-fix` (tools/lint/fix.sh) rewrites the tree with prettier --write and eslint --fix.
# TypeScript only: JSON, YAML and Markdown keep their hand layout. No eslint --cache: type-aware findings in a file
# depend on the files it imports, which the cache does not track.
LINT_TS := '{cmd,pkg,e2e,bench,tools}/**/*.ts' eslint.config.mjs
lint: deps
	$(NODE_BIN)/prettier --check --log-level warn $(LINT_TS)
	$(NODE_BIN)/eslint $(LINT_TS)

lint-fix: deps
	@bash tools/lint/fix.sh

# An unmodified ztunnel for the data-plane tests (e2e/dataplane): the cached binary, ZTUNNEL_BIN, or a build from
# ZTUNNEL_SRC (~15 min cold). Without one those tests skip and say what to set; the rest of the suite runs.
ztunnel:
	@bash tools/ztunnel/ensure.sh >/dev/null || echo "make: no ztunnel (set ZTUNNEL_SRC or ZTUNNEL_BIN); e2e/dataplane tests will skip"

# The whole suite CI runs: the real kube-apiserver/etcd and ztunnel are built (or taken from their cache) first.
test: deps sysdeps build cycles lint
	@bash tools/ensure-test-tools.sh
	@bash tools/run-tests.sh

bench: build
	node dist/bench/run.js $(if $(SCENARIO),--scenario $(SCENARIO),) --mode quick

bench-full: build
	node dist/bench/run.js $(if $(SCENARIO),--scenario $(SCENARIO),) --mode full

chaos: build
	node dist/e2e/chaos/run.js --cycles $${CYCLES:-1000}

clean:
	rm -rf dist .tap
