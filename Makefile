# OVU — the two commands are `make up` and `make test`; the rest are their steps.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

RUN_DIR ?= $(CURDIR)/.run
export OVU_RUN_DIR := $(RUN_DIR)
CARGO ?= cargo
# Keep test output readable and runs deterministic.
export CARGO_TERM_COLOR ?= never
export RUST_BACKTRACE ?= 1

.PHONY: help up down dev test test-all deps services services-stop fmt fmt-check lint shellcheck clippy \
        test-sqlx test-rust test-api test-web test-web-e2e test-e2e test-monitoring build bench \
        images push release test-release test-release-pull

help:
	@echo "make up     run OVU on a local kind cluster (OVU_CLUSTER=nodes: on the real-node cluster; see README)"
	@echo "make test   run the CI suites (installs what it needs)"
	@echo "make test-all  make test plus the long scenarios (real-node chaos and operator suite, release pull)"
	@echo "make down   stop what make up/dev started"

## --- the two commands -------------------------------------------------------

up:
	@scripts/up.sh

# The operator's e2e suite runs on kwok (test-e2e: simulated nodes, 2.5 min); then the official
# images' layout (test-images-smoke) and the release path (test-release); last the one
# real-container pass in make test, kind's (test-e2e-kind: make up on kind, the real tests, the
# browser, tilt ci). Last because it fills the disk most, and a run short of disk
# (OVU_LEAN_DISK, scripts/stages.sh) drops the release builds' intermediate files during its
# make up: no stage after it may need them. The same suite on real containers (~9 min) is make test-all's, on the
# real-node cluster: it outgrew CI's budget (README, "Session 25"). See README
# "make up: kind or real nodes" for why kind and what each cluster proves.
# Each stage is timed (scripts/stages.sh prints the table at the end, also on failure).
TEST_STAGES := deps lint clippy test-sqlx test-rust test-api test-monitoring test-web test-web-e2e \
               test-e2e test-images-smoke test-release test-e2e-kind
# CARGO_INCREMENTAL=0: a test run compiles each crate once; the incremental caches it would
# keep are ~3 GB of target/debug (of a CI machine's disk, which a run once filled) for no gain.
test:
	@CARGO_INCREMENTAL=$${CARGO_INCREMENTAL:-0} MAKE="$(MAKE)" scripts/stages.sh test $(TEST_STAGES)
	@echo "make test: all suites passed"

# Everything `make test` runs, plus the long scenarios that do not fit CI's budget: on the
# real-node cluster the real tests, the chaos tests (killed operator and API server, PostgreSQL
# deleted under load, rolling changes) and the operator's suite on real containers, and the
# install from a registry with an upgrade (test-release-pull).
# Run it before calling an issue resolved.
test-all:
	@CARGO_INCREMENTAL=$${CARGO_INCREMENTAL:-0} MAKE="$(MAKE)" scripts/stages.sh test-all $(TEST_STAGES) test-e2e-real-all test-release-pull
	@echo "make test-all: all suites passed"

## --- steps ------------------------------------------------------------------

deps:
	@scripts/deps.sh

services: deps
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

# Formatting and the shell scripts (every one, the operator's pod scripts included).
lint: fmt-check shellcheck

shellcheck: deps
	@scripts/shellcheck.sh

# The e2e crate's cluster tests build only with its `cluster` feature: lint them too, so a
# test that does not compile is found here and not after a cluster has been built.
clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy -p ovu-e2e --all-targets --features cluster --locked -- -D warnings

build:
	$(CARGO) build --workspace --locked

# deploy/monitoring/ through promtool (built from the Prometheus module, cached outside the
# clone): the alert rules' syntax and their unit tests, the Grafana dashboard's JSON, and the
# PodMonitors and the PrometheusRule against prometheus-operator's API types
# (scripts/test-monitoring.sh; that their metric names are exported is an operator test).
test-monitoring: deps build
	@scripts/test-monitoring.sh

# The SQL of the services' checked queries (sqlx `query!`) against their migrated schemas:
# the committed .sqlx/ data the offline builds compile against must match (scripts/test-sqlx.sh;
# `scripts/test-sqlx.sh prepare` rewrites it after a query or migration changes).
test-sqlx: services
	@scripts/test-sqlx.sh

# Unit and integration tests: the integration tests need the real PostgreSQL and
# Redis that scripts/services.sh starts; tests create their own databases.
test-rust: services
	source $(RUN_DIR)/env && $(CARGO) test --workspace --locked

# Contract tests: schemathesis against the running services' OpenAPI documents.
test-api: services build
	@scripts/test-api.sh
	@scripts/test-api-aam.sh

# Web apps: lint, typecheck, unit tests, production build and the JS size budget.
test-web: deps
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run lint && npm run typecheck && npm test && npm run build && npm run size

# Browser tests (Debian's Chromium) against the real services behind nginx rendered by
# the operator's renderer; needs port 80 on 127.0.0.1.
test-web-e2e: services build test-web
	cd web && npm run e2e

dev: services build
	@scripts/dev.sh

# Stops what `make up` and `make dev` started; the cluster's data stays for the next `make up`.
down:
	@scripts/up.sh down
	@scripts/dev.sh stop || true
	@scripts/services.sh stop

bench: services
	@bench/run.sh

## --- images and releases (README: "Install on your cluster") -------------------

# Every image, tagged with the workspace version (images/build; cached: seconds when nothing
# changed). Archives in images/_build/oci/.
images: deps
	@images/build >/dev/null

# make push REGISTRY=host[:port]/path: the six release images to REGISTRY/<image>:<version>,
# daemonless (skopeo), each digest printed and recorded in dist/images.txt.
push: deps
	@test -n "$(REGISTRY)" || { echo "make push: set REGISTRY=host[:port]/path" >&2; exit 2; }
	@images/build >/dev/null
	@images/push "$(REGISTRY)"

# dist/install.yaml and dist/kustomize/, every image pinned by digest. With REGISTRY: pushes
# first; without: pinned to the last push (dist/images.txt).
release: $(if $(REGISTRY),push)
	@scripts/release.sh

# A real registry (TLS, auth) and a real API server: push, release, verify, dry-run apply,
# tampered digests refused (scripts/test-release.sh).
test-release: deps images
	@scripts/test-release.sh

# The pull path on the real nodes (e2e/run-release): every OVU image pulled from that registry
# (CA and credentials in each node's containerd hosts.toml, no ctr import), the operator
# installed with `kubectl apply -f install.yaml`, an OvuSystem Ready. In `make test-all`.
test-release-pull: deps images
	@e2e/run-release

## --- local Kubernetes cluster (e2e/cluster/, see its README) ------------------

.PHONY: cluster-build cluster-up cluster-smoke cluster-down

cluster-build:
	@e2e/cluster/build

cluster-up:
	@e2e/cluster/up

cluster-smoke: cluster-up
	@e2e/cluster/smoke

cluster-down:
	@e2e/cluster/down

# Regenerate the committed CRD from the Rust types (a test fails when it is stale).
.PHONY: crd
crd:
	$(CARGO) run -q -p ovu-operator -- crd > crds/ovusystem.yaml

## --- operator end-to-end tests (e2e/, see e2e/run) ----------------------------

# Builds and starts the local cluster, runs the ovu-e2e tests with the operator under its own
# ServiceAccount, and stops everything again (also on failure).
.PHONY: test-e2e test-e2e-real
test-e2e:
	@e2e/cluster/real/netns-test
	@e2e/run --mode kwok

# The suite alone on a fresh kind cluster (e2e/kind/run: OVU's own dockerd, kind and a node
# image built here from the project's Kubernetes build). make test runs the suite on kwok (test-e2e),
# make test-all on the real-node cluster too (test-e2e-real-all); OVU_KIND_SUITE=1 make test-e2e-kind
# runs it on the kind pass's cluster.
.PHONY: test-kind
test-kind:
	@e2e/kind/run

# The Tiltfile on the kind cluster (e2e/kind/test-tilt): `tilt ci` must pass (the OvuSystem
# Ready), then fail on a deliberately broken Rust build; the cluster is deleted afterwards.
# make test-all runs it at the end of test-e2e-kind, on that pass's cluster.
.PHONY: test-tilt
test-tilt:
	@e2e/kind/test-tilt

# `make up` on the real-node cluster (OVU_CLUSTER=nodes), the `real` tests through nginx over
# TLS and the browser sign-in at the printed URLs, then `make down`.
.PHONY: test-e2e-real test-e2e-real-all
test-e2e-real:
	@OVU_CLUSTER=nodes e2e/run-real --only-real

# The same plus the chaos tests and the operator's e2e suite on these real containers (e2e/run
# --external --mode real): `make test-all`. The chaos tests stop the API server and the operator
# as processes, which the real-node cluster makes direct. make test runs the suite on kwok.
test-e2e-real-all:
	@OVU_CLUSTER=nodes e2e/run-real --only-real --chaos --suite

# The real-container pass on ONE kind cluster (e2e/run-real with OVU_CLUSTER=kind): `make up` on
# kind, the `real` tests and the browser sign-in at its URLs, then `tilt ci` last (the Tiltfile
# takes the system over and must reach Ready, then must fail on a broken build); the cluster is
# deleted after. make test's one real-container pass. OVU_KIND_SUITE=1 adds the operator's e2e
# suite on the same nodes before Tilt (e2e/run --external --mode real; ~9 min).
.PHONY: test-e2e-kind
test-e2e-kind:
	@OVU_CLUSTER=kind e2e/run-real --only-real --tilt $(if $(filter 1,$(OVU_KIND_SUITE)),--suite)

# The PostgreSQL and Redis images run as the official postgres:16 and redis:7 images do
# (uid/gid 999, their data directories and PATH), in a private containerd: images/smoke, ~10 s.
.PHONY: test-images-smoke
test-images-smoke:
	@images/build postgres redis >/dev/null
	@images/smoke postgres redis
