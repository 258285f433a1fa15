set -eu
umask 077
tmp="${OVU_TMP_DIR:-/tmp}"
secrets="${OVU_REDIS_SECRETS:-/etc/ovu/redis-secrets}"
hash() { tr -d '\n' < "$secrets/$1" | sha256sum | cut -d' ' -f1; }
service='-@all +@connection +@read +@write +@scripting -@dangerous -@admin -@pubsub -@blocking -function -script|flush -script|kill'
{
  echo "user default off resetpass nocommands"
  echo "user ovu-admin on #$(hash password) ~* &* +@all"
  echo "user ulm on #$(hash ulm-password) resetchannels ~ulm:* $service"
  echo "user aam on #$(hash aam-password) resetchannels ~aam:* $service"
} > "$tmp/redis.conf"
exec redis-server "$tmp/redis.conf" --port "${REDIS_PORT:-6379}" --bind "${REDIS_BIND:-0.0.0.0}" \
  --protected-mode no --maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy volatile-lru \
  --save '' --appendonly no --dir "$tmp"
