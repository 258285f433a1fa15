#!/usr/bin/env bash
# Installs sqlx-cli (`cargo sqlx prepare`, which writes and checks the `.sqlx/` query data the
# `query!` macros compile against offline) and prints the directory holding `cargo-sqlx`.
# The version is the sqlx in Cargo.lock, so the CLI writes the data format the macros read.
#
# Cached outside the clone, keyed by version, so a second clone (or CI after a developer)
# never rebuilds it and a sqlx upgrade in Cargo.lock does:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/sqlx-cli-<version>/bin/cargo-sqlx
#
#   scripts/sqlx-cli.sh         # install if needed; print the bin directory
set -euo pipefail
cd "$(dirname "$0")/.."
# The `sqlx` package's version in Cargo.lock (the line after `name = "sqlx"`).
SQLX_VERSION=$(awk '/^name = "sqlx"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
[ -n "$SQLX_VERSION" ] || { echo "sqlx-cli: no sqlx in Cargo.lock" >&2; exit 1; }
ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/sqlx-cli-$SQLX_VERSION"
if [ ! -x "$ROOT/bin/cargo-sqlx" ]; then
  echo "[sqlx-cli] installing sqlx-cli $SQLX_VERSION into $ROOT" >&2
  # Postgres only, rustls (no OpenSSL), the CLI's own lock file. Its own target directory
  # (a temporary one, cargo's default for install), never this clone's target/.
  env -u CARGO_TARGET_DIR cargo install sqlx-cli --version "=$SQLX_VERSION" \
    --no-default-features --features postgres,rustls --locked --root "$ROOT" >&2
fi
echo "$ROOT/bin"
