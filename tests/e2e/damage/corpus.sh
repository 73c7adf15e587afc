#!/usr/bin/env bash
# The damage matrix for corpus files (matrix.py says what it does); 100 trials in the normal run.
exec "${PYTHON:-python3}" "$(dirname "$0")/matrix.py" --kind corpus --trials "${TRIALS:-100}" "$@"
