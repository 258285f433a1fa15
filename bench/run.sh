#!/usr/bin/env bash
# `make bench`: every benchmark in turn. Each prints a Markdown table; bench/README.md
# records the figures with the command and the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/ulm.sh
bench/ulm-vs-pgbench.sh
bench/ulm-search.sh
bench/aam.sh
# Hook: AAM and operator benchmarks add their scripts here.
