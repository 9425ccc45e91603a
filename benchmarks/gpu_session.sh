#!/usr/bin/env bash
# Issue 7: every GPU measurement of benchmarks/README.md in one command, for a session lent a GPU.
#
# A GPU session is short (30 minutes of device time), so the runs are batched here, ready:
#   1. here, once: mkdir -p .ref/examples/imagenet && cp <a pytorch/examples checkout>/imagenet/main.py
#      .ref/examples/imagenet/   (.ref/ is git-ignored: none of its code is committed)
#   2. the device tool, in three calls (one call may run 10 minutes; the machine and data/gpu-session/
#      stay while it is warm): run(command="bash benchmarks/gpu_session.sh 0 1 2 3", carry=[".ref"]),
#      then the same with "4 5", then with "6 7". No arguments: all.
# Each step writes its whole output to $OUT/<step>.log (gpu_session/ where $OUT is unset) and prints
# its exit status, its seconds and its last line (every benchmark ends with a one-line summary).
# Copy the figures into benchmarks/README.md with the date and the machine.
#
# Without CUDA the same steps run at tiny sizes (a minute or two), so that the script never rots.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_session}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD ALEXNET_DATA=$PWD/data/gpu-session

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
