#!/usr/bin/env bash
# The main job on the built-in default: train -> export G -> translate a video. Run through `make demo`.
set -euo pipefail
video=results/demo/input.mp4

echo "== 1/3 cgan-train: the built-in known-answer dataset"
cgan-train
run=$(ls -td runs/*/ | head -n 1); run=${run%/}; name=$(basename "$run")

echo "== 2/3 cgan-export --gen G"
cgan-export --gen G --overwrite

echo "== 3/3 cgan-infer --video $video"
python scripts/demo_video.py "$video"
cgan-infer --video "$video" --side-by-side --out "results/demo/${name}_G.mp4" --overwrite
python scripts/demo_still.py "results/demo/${name}_G.mp4" results/demo/still.png

echo
echo "demo done:"
echo "  training run    $run/  (open $run/index.html for samples, loss curve and the known-answer report)"
echo "  exported model  models/$name/G.onnx"
echo "  translated      results/demo/${name}_G.mp4  (input | output, side by side; a still: results/demo/still.png)"
