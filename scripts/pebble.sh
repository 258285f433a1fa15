#!/usr/bin/env bash
# Pebble (Let's Encrypt's test ACME CA) and pebble-challtestsrv (its DNS server), built from
# their Go module, for the test of `tls.mode: CertManager` with an ACME issuer solving HTTP-01
# through OVU's nginx (e2e/tests/it/real/acme.rs).
#
#   scripts/pebble.sh build                                # print the folder of both binaries
#   scripts/pebble.sh start DIR IP PORT_BASE HTTP_PORT A   # ports PORT_BASE..+3 on IP
#   scripts/pebble.sh stop DIR
#
# Built once into ${XDG_CACHE_HOME:-$HOME/.cache}/ovu/tools/pebble-<version>/ (scripts/lib.sh
# go_module_tool). `start` runs, on IP:
#   PORT_BASE    Pebble's ACME directory (https://IP:PORT_BASE/dir)
#   PORT_BASE+1  Pebble's management interface (its roots: /roots/0)
#   PORT_BASE+2  challtestsrv's DNS (udp and tcp): every A query answered with A, no AAAA
#   PORT_BASE+3  challtestsrv's management interface
# Pebble validates HTTP-01 on port HTTP_PORT of the address the name resolves to (A), so a
# NodePort can stand in for port 80. PEBBLE_VA_NOSLEEP=1: no random wait before validating;
# PEBBLE_WFE_NONCEREJECT=0: no nonce rejected on purpose. Pebble serves its API over TLS with
# a certificate for IP made here (DIR/ca.crt: give it to ACME clients as their CA bundle).
# DIR also gets env (ACME_DIRECTORY, PEBBLE_MANAGEMENT, ACME_DNS), the logs and the PID files.
set -euo pipefail
LOG_TAG=pebble
source "$(dirname "$0")/lib.sh"
PEBBLE_MODULE=github.com/letsencrypt/pebble/v2
PEBBLE_VERSION=v2.10.3
KEY=pebble-$PEBBLE_VERSION

build() {
  local a b
  a=$(go_module_tool pebble "$PEBBLE_MODULE@$PEBBLE_VERSION" ./cmd/pebble "$KEY" -ldflags "-s -w")
  b=$(go_module_tool pebble-challtestsrv "$PEBBLE_MODULE@$PEBBLE_VERSION" ./cmd/pebble-challtestsrv "$KEY" -ldflags "-s -w")
  [[ $(dirname "$a") == "$(dirname "$b")" ]] || die "pebble and challtestsrv in different folders"
  dirname "$a"
}

case ${1:-} in
  build) build; exit 0 ;;
  stop)
    dir=${2:?DIR}
    stop_pidfile pebble "$dir/pebble.pid" 5
    stop_pidfile challtestsrv "$dir/challtestsrv.pid" 5
    exit 0
    ;;
  start) ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

(($# == 6)) || { usage >&2; exit 2; }
dir=$2 ip=$3 base=$4 http_port=$5 a_record=$6
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$(build)
for p in pebble challtestsrv; do
  pidfile_alive "$dir/$p.pid" && die "$p already runs from $dir (pid $(<"$dir/$p.pid"))"
done

# Pebble's own API certificate, for IP (its test certificate names only localhost).
if [[ ! -s $dir/tls.crt ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj "/CN=OVU test Pebble API CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ip" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >"$dir/tls.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 7 -extfile "$dir/tls.ext" -out "$dir/tls.crt" 2>/dev/null
  chmod 600 "$dir/ca.key" "$dir/tls.key"
fi
cat >"$dir/pebble.json" <<JSON
{"pebble": {
  "listenAddress": "$ip:$base",
  "managementListenAddress": "$ip:$((base + 1))",
  "certificate": "$dir/tls.crt",
  "privateKey": "$dir/tls.key",
  "httpPort": $http_port,
  "tlsPort": 0,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "retryAfter": {"authz": 1, "order": 1}
}}
JSON
cat >"$dir/env" <<ENV
ACME_DIRECTORY=https://$ip:$base/dir
PEBBLE_MANAGEMENT=https://$ip:$((base + 1))
ACME_DNS=$ip:$((base + 2))
ENV

log "starting challtestsrv (DNS $ip:$((base + 2)), every name → $a_record)"
start_bg "$dir/challtestsrv.pid" "$dir/challtestsrv.log" "$bin/pebble-challtestsrv" \
  -defaultIPv4 "$a_record" -defaultIPv6 "" -dnsserver "$ip:$((base + 2))" \
  -management "$ip:$((base + 3))" -http01 "" -https01 "" -tlsalpn01 "" -doh ""
log "starting Pebble ($ip:$base, validating HTTP-01 on port $http_port)"
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 start_bg "$dir/pebble.pid" "$dir/pebble.log" \
  "$bin/pebble" -config "$dir/pebble.json" -dnsserver "$ip:$((base + 2))"
ready() { pidfile_alive "$dir/pebble.pid" && curl -fsS -m 2 --cacert "$dir/ca.crt" -o /dev/null "https://$ip:$base/dir" 2>/dev/null; }
if ! WAIT_EVERY=0.2 wait_for 30 ready; then
  tail -20 "$dir/pebble.log" "$dir/challtestsrv.log" >&2 || true
  die "Pebble did not serve https://$ip:$base/dir within 30 s"
fi
pidfile_alive "$dir/challtestsrv.pid" || { tail -20 "$dir/challtestsrv.log" >&2; die "challtestsrv exited"; }
log "ACME directory https://$ip:$base/dir (CA of its API: $dir/ca.crt)"
