#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerate the raw outputs behind docs/results.md: every command it names, each output headed by
# the commit and the command, in docs/results/. Long (about an hour on 2 cores); run in a venv
# where vmaplab is installed (bash scripts/test.sh makes one: . .venv/bin/activate).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/results
mkdir -p "$out"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
run() {
  local name=$1; shift
  echo "== $name: $*" >&2
  { echo "# commit $commit: $*"; "$@"; } > "$out/$name.txt"
}
run scale python benchmarks/sweeps_contention.py scale --scales 200,500,1000,2000,4000
run calibrate python benchmarks/calibrate_contention.py
run sensitivity python benchmarks/sweeps_contention.py sensitivity --scale 2000
run threads python benchmarks/sweeps_contention.py threads --scale 500
run bench_contention python benchmarks/bench_contention.py
run headline vmaplab simulate run_test_mask=7 nr_threads=64 --jobs 2 --quiet
for s in 250 1000 4000; do
  run "cold_start_s$s" vmaplab simulate run_test_mask=7 nr_threads=64 --version 6.9 --scale "$s" --cold-start --quiet
done
run kworker vmaplab simulate run_test_mask=7 nr_threads=64 --drain kworker --jobs 2 --quiet
# issue 23 (docs/results.md "Issue 23"): the headline symbol by symbol, the intervals, the 128-CPU
# question, the speed of the finite caches, clearing a page
run headline_profile vmaplab simulate run_test_mask=7 nr_threads=64 --version both --scale 1000 --seed 1 --compare-profile --jobs 2
run uncertainty_headline vmaplab sweep experiments/uncertainty-headline.toml --jobs 2 --out "/tmp/vmaplab-results-$commit/headline" --quiet
run uncertainty_v1 vmaplab sweep experiments/uncertainty-v1.toml --jobs 2 --out "/tmp/vmaplab-results-$commit/v1" --quiet
run uncertainty_epyc vmaplab sweep experiments/uncertainty-epyc.toml --jobs 2 --out "/tmp/vmaplab-results-$commit/epyc" --quiet
run bench_capacity python benchmarks/bench_contention.py --capacity --rounds 3
run clear_page python benchmarks/clear_page.py
