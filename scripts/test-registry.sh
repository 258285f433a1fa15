# shellcheck shell=bash
# A real OCI registry for the release tests (scripts/test-release.sh, e2e/run-release): the CNCF
# distribution registry (scripts/registry.sh) on 127.0.0.1 with TLS from a CA made here and
# htpasswd (bcrypt) auth. Sourced after scripts/lib.sh, never run:
#
#   start_test_registry DIR       # sets REG (127.0.0.1:<port>), REG_USER, REG_PASSWORD,
#                                 # REG_CA (the CA), REG_CERT_DIR (skopeo --cert-dir),
#                                 # REGISTRY_AUTH_FILE (exported) and registry_pid
#   stop_test_registry
#
# The caller stops it from its EXIT trap (stop_test_registry stops exactly registry_pid).

registry_pid=""

start_test_registry() {
  local dir=$1 bin port pki
  bin=$("$ROOT/scripts/registry.sh")
  mkdir -p "$dir"/{pki,certs,storage}
  pki=$dir/pki
  port=15500
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  REG=127.0.0.1:$port
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ovu-test-registry-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$pki/registry.key" -out "$pki/registry.csr" 2>/dev/null
  openssl x509 -req -in "$pki/registry.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n') \
    -out "$pki/registry.crt" 2>/dev/null
  REG_CA=$pki/ca.crt
  # skopeo's --cert-dir: the CA as ca.crt, nothing else.
  REG_CERT_DIR=$dir/certs
  cp "$REG_CA" "$REG_CERT_DIR/ca.crt"
  REG_USER=ovu-release
  REG_PASSWORD=$(openssl rand -hex 16)
  # The registry reads bcrypt only; Python's crypt (libxcrypt) makes it without apache2-utils.
  python3 -W ignore -c 'import crypt,sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
    "$REG_USER" "$REG_PASSWORD" >"$pki/htpasswd"
  cat >"$dir/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $dir/storage}
http:
  addr: $REG
  tls: {certificate: $pki/registry.crt, key: $pki/registry.key}
auth:
  htpasswd: {realm: ovu-test, path: $pki/htpasswd}
YAML
  # No tracing exporter: the registry would otherwise try to reach an OTLP collector.
  OTEL_TRACES_EXPORTER=none "$bin" serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  echo "$registry_pid" >"$dir/registry.pid"
  _registry_answers() { curl -s -o /dev/null --cacert "$REG_CA" "https://$REG/v2/"; }
  wait_for 20 _registry_answers || { tail -20 "$dir/registry.log" >&2; die "the registry did not answer on $REG"; }
  export REGISTRY_AUTH_FILE=$dir/auth.json
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf '%s:%s' "$REG_USER" "$REG_PASSWORD" | base64 -w0)" >"$REGISTRY_AUTH_FILE"
  log "registry $REG up (pid $registry_pid, log $dir/registry.log)"
}

stop_test_registry() {
  [[ -n $registry_pid ]] || return 0
  stop_pid registry "$registry_pid" 10
  registry_pid=""
}
