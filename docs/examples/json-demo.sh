#!/usr/bin/env bash
# Regenerates the examples of docs/JSON.md: every command there, in order, on a fresh library in /tmp/promptlib-demo,
# with the tiny random-weight model and the tiny CLIP (docs/examples/demo_models.py). CPU only, about a minute.
# Run from the repository root: docs/examples/json-demo.sh > json-demo.txt
set -u
D=/tmp/promptlib-demo
PY=${PY:-.venv/bin/python}
rm -rf "$D" && mkdir -p "$D/lib"
"$PY" docs/examples/demo_models.py "$D" > "$D/lib/config.toml" 2>/dev/null
export PROMPTLIB_HOME="$D/lib" COLUMNS=${COLUMNS:-120}
promptlib() { "$PY" -m promptlib "$@"; }
run() { echo "\$ promptlib $*"; promptlib "$@"; echo "[exit $?]"; echo; }

printf 'name,prompt,negative_prompt\ncinematic-2,"cinematic still of {prompt}",cartoon\n' > "$D/styles.csv"
printf '\x00\x01binary' > "$D/broken.bin"

run -L "$D/starter" init --json
run add 'a lighthouse in fog, oil painting' -n 'people, text' --tag seascape --model random:sd15-tiny \
    --sampler 'DPM++ 2M Karras' --steps 20 --seed 7 --size 64x64 --json
run add 'a red fox curled up in snow' --title Fox --tag animals --json
run render 1 --steps 2 --json
run rerun 1 --json
run verify 1 --json
run grid 2 --model random:sd15-tiny --size 64x64 --steps 2 --x seed=1,2 --json
run show 1 --json
run dup 2 --json
run list tag:animals --limit 1 --json
run search fox --json
run tag 2 3 --add snow --json
run tags --json
run rate 4 1 2 --json
run fav 2 --json
run collect Moodboard 1 2 --json
run collect moodboard 2 --remove --json
run collections --json
run collections --delete MOODBOARD --json
promptlib styles add cinematic 'cinematic still of {prompt}, 35mm' -n cartoon
run styles show cinematic --json
run styles apply cinematic 2 --json
run import "$D/styles.csv" "$D/broken.bin" --json
run rm 3 --yes --json
run index build --json
run index status --json
run search fox --json
run overview --json
run stats --json
run db backup "$D/backup.db" --json
run db check --json
run doctor --json
run models --folder "$D/models" --json
run schedulers --json
run dedup --threshold 0.99 --json
run bench render --random-weights --tiny --batch 1 --steps 2 --repeats 1 --variants plain,default --json
run bench search --vectors 2000 --dim 16 --queries 20 --json
