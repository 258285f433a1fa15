#!/usr/bin/env bash
# Refreshes the committed OpenAPI snapshots from running services, then regenerates the
# TypeScript types. ULM_URL / AAM_URL default to the local `make dev` ports.
set -euo pipefail
cd "$(dirname "$0")/.."
ULM_URL=${ULM_URL:-http://127.0.0.1:8001}
AAM_URL=${AAM_URL:-http://127.0.0.1:8002}
fetch() {
  local name=$1 url=$2 tmp
  tmp=$(mktemp)
  if curl -fsS --max-time 10 "$url/api/openapi.json" -o "$tmp"; then
    # Stable formatting so diffs show real contract changes.
    node -e 'const fs=require("fs");const j=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));fs.writeFileSync(process.argv[2],JSON.stringify(j,null,2)+"\n")' "$tmp" "openapi/$name.json"
    echo "fetch-openapi: openapi/$name.json from $url"
  else
    echo "fetch-openapi: $name is not answering at $url; kept the old snapshot" >&2
    rm -f "$tmp"
    return 1
  fi
  rm -f "$tmp"
}
status=0
for svc in "${@:-ulm aam}"; do
  for s in $svc; do
    case $s in
      ulm) fetch ulm "$ULM_URL" || status=1 ;;
      aam) fetch aam "$AAM_URL" || status=1 ;;
      *) echo "unknown service $s" >&2; exit 2 ;;
    esac
  done
done
node scripts/gen-api.mjs || true
exit $status
