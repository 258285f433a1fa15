#!/usr/bin/env bash
# Runs make targets one after another and says how long each took: what `make test` and
# `make test-all` are made of, timed, so the CI budget (50 minutes on the 2-core machine, the
# README's "make test runs, in order") is read from every run's own output, not estimated.
#
#   scripts/stages.sh NAME TARGET...
#
# Each TARGET runs as `make -o <every earlier stage> TARGET`: its own prerequisites still
# apply, but a stage that already ran is not run again as a prerequisite of a later one (as in
# one make run: test-web-e2e depends on test-web). Stops at the first failing stage. At the
# end, and on failure, prints one line per stage that ran: its time, its share of the whole,
# and the disk: free space when it ended and the lowest seen while it ran (sampled every 5 s
# on the filesystems of the clone and of ~/.cache/ovu, where the kind nodes live). CI once
# failed with "no space left on device" and nothing said how close the run had come before.
set -euo pipefail
LOG_TAG=stages
source "$(dirname "$0")/lib.sh"
(($# >= 2)) || { usage; exit 2; }
name=$1
shift
MAKE=${MAKE:-make}

stages=() times=() disk=()
t0=$SECONDS

# --- disk: the lowest free space (MiB) of the filesystems a run fills ----------------------
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/ovu
mkdir -p "$cache_dir"
low_file=$(mktemp "${TMPDIR:-/tmp}/ovu-stages-disk.XXXXXX")
free_mib "$ROOT" "$cache_dir" >"$low_file"
# A run of `make test` from a fresh clone wrote 13.3 GiB at its peak (README, session 29: 39.3 →
# 26.0 GiB free; 16.5 GiB before that session), most of it in the kind pass near the end: say
# so at the start rather than after 30 minutes, and below this much free go lean (below).
NEED_GIB=${OVU_TEST_DISK_GIB:-16}
if (($(<"$low_file") < NEED_GIB * 1024)); then
  log "warning: $(gib "$(<"$low_file")") free on the clone's or ~/.cache/ovu's filesystem; a run of make $name may need ~$NEED_GIB GiB (it stops with \"no space left on device\" if it runs out)"
  # Short of disk: make up (scripts/up.sh) drops the release builds' intermediate files once
  # its images are built, ~1.9 GiB that the rest of the run does not read. OVU_LEAN_DISK=0 keeps them.
  if [[ -z ${OVU_LEAN_DISK:-} ]]; then
    export OVU_LEAN_DISK=1
    log "OVU_LEAN_DISK=1: make up will remove target/release*'s intermediate files once its images are built (the next images/build compiles them again)"
  fi
fi
# The sampler keeps the lowest value since the file was last reset (at each stage's start).
(
  while sleep 5; do
    f=$(free_mib "$ROOT" "$cache_dir") && l=$(<"$low_file") && [[ -n $f && ( -z $l || $f -lt $l ) ]] && echo "$f" >"$low_file"
  done
) </dev/null >/dev/null 2>&1 &
sampler=$!
# disk_line: "N GiB free, lowest M GiB" for the stage that just ended.
disk_line() {
  local f l
  f=$(free_mib "$ROOT" "$cache_dir")
  l=$(<"$low_file")
  ((f < l)) && l=$f
  echo "$(gib "$f") free, lowest $(gib "$l")"
}
# The biggest things a run writes, when a stage failed short of space.
# shellcheck disable=SC2317  # called by summary
disk_report() {
  log "disk: $(df -Ph "$ROOT" "$cache_dir" | awk 'NR > 1 && !seen[$1]++ { printf "%s %s free of %s; ", $6, $4, $2 }')"
  local d
  for d in "$ROOT/target" "$ROOT/images/_build" "$ROOT/e2e/cluster/_run" "$ROOT/e2e/kind/_run" \
    "$cache_dir/docker/data" "$cache_dir/tools" "${GOCACHE:-$HOME/.cache/go-build}"; do
    [[ -d $d ]] && timeout 60 du -sh "$d" 2>/dev/null | sed 's/^/[stages]   /' >&2
  done
  return 0
}
# shellcheck disable=SC2317  # called by the EXIT trap
summary() {
  local rc=$? total=$((SECONDS - t0)) i
  kill "$sampler" 2>/dev/null || true
  ((${#stages[@]})) || { rm -f "$low_file"; exit "$rc"; }
  ((rc == 0)) || disk_report
  rm -f "$low_file"
  log "make $name: stage times"
  for i in "${!stages[@]}"; do
    printf '[stages]   %-20s %5d s  %3d %%   %s\n' "${stages[$i]}" "${times[$i]}" \
      $((total ? times[i] * 100 / total : 0)) "${disk[$i]}" >&2
  done
  printf '[stages]   %-20s %5d s  (%d min %02d s)\n' total "$total" $((total / 60)) $((total % 60)) >&2
  exit "$rc"
}
trap summary EXIT
trap 'exit 130' INT TERM

done_already=()
for target in "$@"; do
  t=$SECONDS
  rc=0
  free_mib "$ROOT" "$cache_dir" >"$low_file"
  "$MAKE" --no-print-directory "${done_already[@]}" "$target" || rc=$?
  done_already+=(-o "$target")
  stages+=("$target") times+=($((SECONDS - t))) disk+=("$(disk_line)")
  if ((rc)); then
    log "make $name: stage $target FAILED after $((SECONDS - t)) s (exit $rc)"
    exit "$rc"
  fi
  log "stage $target done in $((SECONDS - t)) s ($((SECONDS - t0)) s so far; disk ${disk[-1]})"
done
