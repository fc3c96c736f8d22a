#!/usr/bin/env bash
# The GPU render figures of docs/PERFORMANCE.md, in parts that each fit one 10-minute device call.
# Every part measures plain diffusers again (the baseline of the same run) next to promptlib's variants.
#
#   benchmarks/gpu_render.sh sd15|pack|sdxl1|sdxl4 OUTDIR
#
# Random weights with the real architectures: speed does not depend on the weights' values.
set -euo pipefail
export COLUMNS=${COLUMNS:-160}
part=${1:?part: sd15, pack, sdxl1 or sdxl4}
out=${2:?output folder}
mkdir -p "$out"
bench() { python3 -m promptlib bench render --random-weights "$@"; }
case $part in
  sd15) bench --scenario sd15 --variants plain,default,compile+cuda-graphs --out "$out/sd15.json" ;;
  pack)
    bench --scenario sd15 --batch 8 --variants plain --out "$out/pack-plain.json"
    bench --scenario pack --variants compile+cuda-graphs --out "$out/pack.json" ;;
  sdxl1)
    bench --scenario sdxl --batch 1 --variants plain,upcast-vae,default,compile+cuda-graphs --out "$out/sdxl1.json" ;;
  sdxl4) bench --scenario sdxl --batch 4 --variants plain,default,compile+cuda-graphs --out "$out/sdxl4.json" ;;
  *)
    echo "unknown part $part" >&2
    exit 2 ;;
esac
