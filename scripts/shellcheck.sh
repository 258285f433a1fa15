#!/usr/bin/env bash
# `make shellcheck` (part of `make lint`, so of `make test`): every shell script in the repo
# through shellcheck, at every severity, following sourced files (.shellcheckrc).
#
#   scripts/shellcheck.sh            # the scripts git knows (committed or staged)
#
# Scripts: tracked files whose first line is a sh/bash shebang, and *.sh. The pod scripts the
# operator renders (operator/src/render/sh/, pulled into the Rust code with include_str!) are
# POSIX sh without a shebang: checked as sh. They may not carry a shellcheck directive (a
# comment line would change what the pods run and the render snapshots), so two `ls`
# findings are excluded for them here: they list backup folders the backup script itself
# names (UTC timestamps such as 20261203T095000Z), never arbitrary file names.
set -euo pipefail
LOG_TAG=shellcheck
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || die "shellcheck is not installed (scripts/deps.sh)"

POD_SCRIPTS=operator/src/render/sh
scripts=()
while IFS= read -r -d '' f; do
  [[ -f $f && $f != "$POD_SCRIPTS"/* ]] || continue
  if [[ $f == *.sh ]] || head -n1 "$f" | grep -qE '^#!(/usr/bin/env |/bin/)(ba)?sh\b'; then scripts+=("$f"); fi
done < <(git ls-files -z)
# The off-site fragments only run after others (operator/src/render/backup.rs backup_script,
# restore.rs restore_script) that set what they use: checked as the pods run them, composed.
composed=$(mktemp -d)
trap 'rm -rf "$composed"' EXIT
cat "$POD_SCRIPTS"/{offsite,backup,offsite-upload}.sh > "$composed/backup-offsite.sh"
cat "$POD_SCRIPTS"/{offsite,offsite-fetch,restore}.sh > "$composed/restore-offsite.sh"
pod_scripts=()
for f in "$POD_SCRIPTS"/*.sh; do
  [[ $f == */offsite-upload.sh || $f == */offsite-fetch.sh ]] || pod_scripts+=("$f")
done
pod_scripts+=("$composed"/*.sh)

shellcheck --external-sources "${scripts[@]}"
shellcheck --shell=sh --exclude=SC2010,SC2012 "${pod_scripts[@]}"
log "${#scripts[@]} scripts and ${#pod_scripts[@]} pod scripts pass"
