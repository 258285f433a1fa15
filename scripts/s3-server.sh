#!/usr/bin/env bash
# A real S3 server for the off-site backup tests: SeaweedFS (`weed server -s3`, built by
# scripts/seaweedfs.sh) on one address, S3 over TLS with a CA made here, one bucket, and two
# identities: `admin` (made the bucket) and `backup`, allowed only to read, write and list
# that bucket, which is what the backups use (as a user would scope a key). rclone (1.60, as
# Debian 12 ships it) sends a canned ACL with every upload, so the key needs WriteAcp too
# (s3:PutObjectAcl in AWS terms, which rclone's documented minimal policy lists).
#
#   scripts/s3-server.sh start DIR [IP] [PORT_BASE]   # IP 127.0.0.1, ports PORT_BASE..+7 (18300)
#   scripts/s3-server.sh stop DIR
#
# `start` writes, in DIR: ca.crt (the CA the server's certificate chains to), env (S3_ENDPOINT,
# S3_BUCKET and the backup key as S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY, for tests to put in
# Secrets or files), weed.pid, weed.log, data/. Nothing is started twice: a running server is
# reused.
set -euo pipefail
LOG_TAG=s3-server
source "$(dirname "$0")/lib.sh"

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || { usage; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile="$dir/weed.pid"

case $cmd in
  stop)
    stop_pidfile weed "$pidfile" 2
    exit 0
    ;;
  start) ;;
  *) usage; exit 2 ;;
esac

ip=${3:-127.0.0.1}
base=${4:-18300}
s3_port=$((base + 6))
bucket=ovu-backups
endpoint="https://$ip:$s3_port"

# The machine's AWS_CA_BUNDLE (if any) makes rclone's S3 client refuse --ca-cert ("HTTPClient's
# transport unsupported type"); the CA given here is the one that matters.
unset AWS_CA_BUNDLE
if pidfile_alive "$pidfile"; then
  log "weed already running (pid $(<"$pidfile")) at $endpoint"
  exit 0
fi
weed=$("$(dirname "$0")/seaweedfs.sh")

# A CA and the server's certificate for $ip, made once per DIR.
if [[ ! -s $dir/tls.crt ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=OVU test S3 CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ip" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" > "$dir/tls.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -extfile "$dir/tls.ext" -out "$dir/tls.crt" 2>/dev/null
  chmod 600 "$dir/ca.key" "$dir/tls.key"
fi
# Keys made once per DIR (random: nothing here is a fixed credential).
rnd() { openssl rand -hex "$1"; }
if [[ ! -s $dir/env ]]; then
  {
    echo "S3_ENDPOINT=$endpoint"
    echo "S3_BUCKET=$bucket"
    echo "S3_ADMIN_ACCESS_KEY_ID=admin$(rnd 6)"
    echo "S3_ADMIN_SECRET_ACCESS_KEY=$(rnd 20)"
    echo "S3_ACCESS_KEY_ID=backup$(rnd 6)"
    echo "S3_SECRET_ACCESS_KEY=$(rnd 20)"
  } > "$dir/env"
  chmod 600 "$dir/env"
fi
# shellcheck disable=SC1091
source "$dir/env"
cat > "$dir/s3.json" <<JSON
{"identities": [
  {"name": "admin", "credentials": [{"accessKey": "$S3_ADMIN_ACCESS_KEY_ID", "secretKey": "$S3_ADMIN_SECRET_ACCESS_KEY"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "backup", "credentials": [{"accessKey": "$S3_ACCESS_KEY_ID", "secretKey": "$S3_SECRET_ACCESS_KEY"}],
   "actions": ["Read:$bucket", "Write:$bucket", "WriteAcp:$bucket", "List:$bucket"]}
]}
JSON
chmod 600 "$dir/s3.json"
mkdir -p "$dir/data"

log "starting weed ($weed) at $endpoint, data in $dir/data"
# Every port fixed (gRPC ones too: weed's default is port+10000); the extras weed would start
# by default (Iceberg, Lance, telemetry to the internet) off.
start_bg "$pidfile" "$dir/weed.log" "$weed" server -dir="$dir/data" -ip="$ip" -ip.bind="$ip" \
  -master.port="$base" -master.port.grpc=$((base + 1)) \
  -volume.port=$((base + 2)) -volume.port.grpc=$((base + 3)) \
  -filer.port=$((base + 4)) -filer.port.grpc=$((base + 5)) \
  -s3 -s3.port="$s3_port" -s3.port.grpc=$((base + 7)) -s3.port.iceberg=0 -s3.port.lance=0 \
  -s3.cert.file="$dir/tls.crt" -s3.key.file="$dir/tls.key" -s3.config="$dir/s3.json" \
  -s3.autoCreateBucket=false -master.telemetry=false \
  -master.volumeSizeLimitMB=64 -volume.max=32

# rclone as the admin, with the CA: ready once it can list the buckets; then the bucket.
conf="$dir/admin-rclone.conf"
printf '[s3]\ntype = s3\nprovider = Other\nendpoint = %s\naccess_key_id = %s\nsecret_access_key = %s\nforce_path_style = true\n' \
  "$endpoint" "$S3_ADMIN_ACCESS_KEY_ID" "$S3_ADMIN_SECRET_ACCESS_KEY" > "$conf"
chmod 600 "$conf"
admin() { rclone --config "$conf" --ca-cert "$dir/ca.crt" --retries 1 --low-level-retries 1 "$@"; }
ready() { pidfile_alive "$pidfile" && admin lsd s3: > /dev/null 2>&1; }
if ! WAIT_EVERY=0.5 wait_for 60 ready; then
  tail -30 "$dir/weed.log" >&2
  die "weed did not serve S3 at $endpoint within 60 s (log above: $dir/weed.log)"
fi
admin mkdir "s3:$bucket"
# Listing buckets needs only the filer; a write needs a volume the master has grown and the
# volume server has registered. Ready means what the tests need: the backup key writes,
# reads back and deletes an object.
bconf="$dir/backup-rclone.conf"
printf '[s3]\ntype = s3\nprovider = Other\nendpoint = %s\naccess_key_id = %s\nsecret_access_key = %s\nforce_path_style = true\nno_check_bucket = true\n' \
  "$endpoint" "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" > "$bconf"
chmod 600 "$bconf"
as_backup() { rclone --config "$bconf" --ca-cert "$dir/ca.crt" --retries 1 --low-level-retries 1 "$@"; }
probe="s3:$bucket/.ovu-ready-$(rnd 6)"
writes() { echo ready | as_backup rcat "$probe" > /dev/null 2>&1 && [[ $(as_backup cat "$probe" 2> /dev/null) == ready ]]; }
if ! WAIT_EVERY=0.5 wait_for 60 writes; then
  tail -30 "$dir/weed.log" >&2
  die "weed served S3 at $endpoint but the backup key could not write and read back $probe within 60 s (log above: $dir/weed.log)"
fi
as_backup deletefile "$probe"
log "S3 at $endpoint (CA $dir/ca.crt), bucket $bucket: the backup key writes and reads"
