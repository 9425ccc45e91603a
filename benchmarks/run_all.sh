#!/usr/bin/env bash
# Every GPU measurement of benchmarks/README.md in one command:
#   bash benchmarks/run_all.sh [STEP...]      (no arguments: all steps, 0 to 7)
# The steps: 0 the machine (nvidia-smi, torch and torchvision versions), 1 the tests, 2 a stand-in
# (1,300 training images per class, 13,000 in all, under $ALEXNET_DATA as set below), 3 its
# prepared store, then each benchmark: 4 train_step.py, 5 lrn.py, 6 train_pipeline.py, 7 figure1.py.
# Step 6 also times pytorch/examples' ImageNet script when its main.py is here, copied once with
#   mkdir -p .ref/examples/imagenet && cp <a pytorch/examples checkout>/imagenet/main.py .ref/examples/imagenet/
# (.ref/ is git-ignored: none of its code is committed).
# Each step writes its whole output to $OUT/<step>.log (benchmark-logs/ where $OUT is unset) and prints
# its exit status, its seconds and its last line (every benchmark ends with a one-line summary).
# Copy the figures into benchmarks/README.md with the date and the machine.
#
# Without CUDA the same steps run at tiny sizes (a minute or two), so that the script never rots.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmark-logs}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD ALEXNET_DATA=$PWD/data/benchmark

if "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    per_class=1300 step_args=(--compile) lrn_args=() fig1_args=()        # 13,000 training images
    pipe_args=(--peak-tflops 989)  # dense bf16 peak of an H100 SXM or H200 (datasheet)
else
    per_class=8 step_args=(--batch 4 --steps 1 --rounds 1) lrn_args=(--batch 4 --repeats 1) fig1_args=(--epochs 1)
    pipe_args=()
fi
examples=()
[ -f .ref/examples/imagenet/main.py ] && examples=(--examples .ref/examples)

wanted=" ${*:-0 1 2 3 4 5 6 7} "
step() {  # step NAME COMMAND...: run it (if its number was asked for), keep its output, print one line
    local name=$1 start=$SECONDS status
    shift
    [[ $wanted == *" ${name%%_*} "* ]] || return 0
    "$@" >"$OUT/$name.log" 2>&1
    status=$?
    echo "$name: exit $status after $((SECONDS - start)) s: $(tail -n 1 "$OUT/$name.log")"
}

step 0_machine bash -c "nvidia-smi; $PYTHON -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'"
step 1_tests "$PYTHON" -m pytest -q -p no:cacheprovider tests -k "not fashion"
step 2_standin "$PYTHON" -m alexnet_lib.data.standin --train-per-class "$per_class" --val-per-class 50
step 3_prepare "$PYTHON" -m alexnet_lib.data.prepare --source "$ALEXNET_DATA/standin/imagenet"
step 4_train_step "$PYTHON" benchmarks/train_step.py "${step_args[@]}"
step 5_lrn "$PYTHON" benchmarks/lrn.py "${lrn_args[@]}"
step 6_train_pipeline "$PYTHON" benchmarks/train_pipeline.py --compile "${pipe_args[@]}" "${examples[@]}"
step 7_figure1 "$PYTHON" benchmarks/figure1.py "${fig1_args[@]}"
