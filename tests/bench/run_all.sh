#!/usr/bin/env bash
# Every benchmark in one command; each writes its dated results file in tests/bench/results/.
#   bash tests/bench/run_all.sh [REPS=5] [SCALE=2G]
# Needs: bash launch/install-deps.sh --bench, a Release build in build/, and ../shared/data (IMDB,
# SST-2) for the training benchmarks. Takes about 10 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
reps=${1:-5}
scale=${2:-2G}
py=$(command -v /usr/bin/python3 || command -v python3)
"$py" "$here/bench_train.py" --reps "$reps"          # tcdist vs fastText (and PyTorch): IMDB, bigrams, SST-2; prepare MB/s
"$py" "$here/bench_dist.py" --reps "$reps"           # 1 rank x 2 threads vs 2 ranks x 1 thread; exchange bytes
bash "$here/bench_scale.sh" "$scale"                 # a corpus larger than the training's memory budget
