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
# end, and on failure, prints one line per stage that ran: its time, and its share of the whole.
set -euo pipefail
LOG_TAG=stages
source "$(dirname "$0")/lib.sh"
(($# >= 2)) || { usage; exit 2; }
name=$1
shift
MAKE=${MAKE:-make}

stages=() times=()
t0=$SECONDS
# shellcheck disable=SC2317  # called by the EXIT trap
summary() {
  local rc=$? total=$((SECONDS - t0)) i
  ((${#stages[@]})) || exit "$rc"
  log "make $name: stage times"
  for i in "${!stages[@]}"; do
    printf '[stages]   %-20s %5d s  %3d %%\n' "${stages[$i]}" "${times[$i]}" \
      $((total ? times[i] * 100 / total : 0)) >&2
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
  "$MAKE" --no-print-directory "${done_already[@]}" "$target" || rc=$?
  done_already+=(-o "$target")
  stages+=("$target") times+=($((SECONDS - t)))
  if ((rc)); then
    log "make $name: stage $target FAILED after $((SECONDS - t)) s (exit $rc)"
    exit "$rc"
  fi
  log "stage $target done in $((SECONDS - t)) s ($((SECONDS - t0)) s so far)"
done
