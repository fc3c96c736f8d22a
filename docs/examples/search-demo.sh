#!/usr/bin/env bash
# Regenerates the examples of docs/search.md ("Examples"): a library of 26 drawn-shape entries in
# /tmp/promptlib-search-demo, searched with the test suite's tiny CLIP. CPU only, under a minute.
# Run from the repository root: docs/examples/search-demo.sh
set -u
D=/tmp/promptlib-search-demo
PY=${PY:-.venv/bin/python}
rm -rf "$D" && mkdir -p "$D/lib"
"$PY" docs/examples/demo_models.py "$D" > "$D/lib/config.toml" 2>/dev/null
"$PY" docs/examples/search_demo_library.py "$D"
export PROMPTLIB_HOME="$D/lib" COLUMNS=${COLUMNS:-100}
cd "$D"
run() { echo "\$ promptlib $*"; "$PY" -m promptlib "$@" 2>&1; echo; }

run index build
run search 'a red circle on black' --mode semantic -k 3
run search 'a red circle on black tag:light' --mode semantic -k 3
run search --image query.png -k 3
run search 'a blue square' --similar-prompts -k 2
run dedup --threshold 0.99
