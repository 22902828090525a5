#!/usr/bin/env bash
# Issue 5 tables: every preset at 640x480, 1280x720 and 1920x1080.
#   bash benchmarks/presets.sh OUT_DIR [SIZES] [PRESETS]
# Speed: `bystander bench` on EgoBlur's gen1 clip scaled to each size (ceiling, protect and
# deface on the same 300 frames, one run per preset). Recall: `bystander eval --video` on
# dlib's faces pasted into each size, still and moving (16 px/frame pan, +-10% zoom).
set -euo pipefail
out=${1:?usage: presets.sh OUT_DIR [SIZES] [PRESETS]}
sizes=${2:-"640x480 1280x720 1920x1080"}
presets=${3:-"realtime balanced accurate"}
data=${BYSTANDER_DATA:-../shared/data}
mkdir -p "$out"
for size in $sizes; do
  for preset in $presets; do
    bystander bench "$data/egoblur/gen1-test_video.mp4" --resize "$size" --seconds 10 \
      --preset "$preset" --json > "$out/bench-$size-$preset.json"
    for set in training testing; do
      for speed in 0 16; do
        bystander eval "$data/dlib-faces/$set.xml" --paste-into "$size" --video \
          --speed "$speed" --zoom "$( [ "$speed" = 0 ] && echo 0 || echo 0.1 )" \
          --preset "$preset" --json > "$out/eval-$size-$preset-$set-$speed.json"
      done
    done
  done
done
