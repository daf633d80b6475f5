# ambientd — the two contract targets are `make run` and `make test`.
# Both install what they need (npm packages, and Debian tools the tests use).

SHELL := /bin/bash
NODE_BIN := node_modules/.bin
STAMP := node_modules/.install-stamp
SYS_STAMP := .sysdeps-stamp
SCENARIO ?=
export NODE_OPTIONS ?= --enable-source-maps

.PHONY: all deps sysdeps build run test test-unit cycles bench bench-full chaos clean proto-check

all: build

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(STAMP)

deps: $(STAMP)

# Debian tools used as independent oracles by the tests: protoc (wire bytes),
# openssl (certificates), promtool (metrics), systemd-analyze (unit files).
sysdeps:
	@bash tools/sysdeps.sh

build: deps
	$(NODE_BIN)/tsc -p tsconfig.json

# The daemon on the embedded default mesh (examples/default). A dev token for a
# local ztunnel (istio-system/ztunnel) is minted first; the root certificate
# appears under the state dir once the daemon has started.
RUN_STATE := .state/default
run: build
	@mkdir -p $(RUN_STATE)
	@# No trailing newline: ztunnel sends the file's bytes verbatim as the bearer token.
	@printf '%s' "$$(node dist/cmd/ambientd/main.js token create --state-dir $(RUN_STATE) --namespace istio-system --service-account ztunnel --ttl 24h)" > $(RUN_STATE)/ztunnel-token
	@echo "ambientd: dev token for a local ztunnel written to $(RUN_STATE)/ztunnel-token (AUTH_TOKEN=$$(pwd)/$(RUN_STATE)/ztunnel-token)"
	@echo "ambientd: mesh root certificate: $$(pwd)/$(RUN_STATE)/ca/root-cert.pem (XDS_ROOT_CA / CA_ROOT_CA)"
	@# Descriptor headroom (docs/reliability.md): the gRPC connection cap is this limit minus
	@# runtime.fdReserve, so floods meet the cap before the daemon's own file reads fail.
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); \
	exec node dist/cmd/ambientd/main.js serve --config examples/default/ambientd.yaml

cycles: deps
	$(NODE_BIN)/madge --circular --extensions ts --ts-config tsconfig.json cmd pkg e2e

test: deps sysdeps build cycles
	bash tools/run-tests.sh

bench: build
	node dist/bench/run.js $(if $(SCENARIO),--scenario $(SCENARIO),) --mode quick

bench-full: build
	node dist/bench/run.js $(if $(SCENARIO),--scenario $(SCENARIO),) --mode full

chaos: build
	node dist/e2e/chaos/run.js --cycles $${CYCLES:-1000}

clean:
	rm -rf dist .tap
