#!/usr/bin/env bash
# The damage matrix for model files (matrix.py says what it does); 100 trials in the normal run.
exec "${PYTHON:-python3}" "$(dirname "$0")/matrix.py" --kind model --trials "${TRIALS:-100}" "$@"
