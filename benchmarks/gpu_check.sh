#!/usr/bin/env bash
# One short device session (issue 23, item 6): `--device cuda` on every command that trains or samples, the
# mnist5k main job and the training/sampler benchmarks on a GPU. Every step has its own time limit and the
# script goes on after a failure; all output goes to one log ($OUT/gpu.log, $OUT defaults to ./gpu_out) and
# the main job's results beside it.
#
# Run (in the repository root, on a machine with CUDA):   bash benchmarks/gpu_check.sh [checks|full|all]
#   checks: the test of --device, train / sweep / study on cuda, bench_mnist5k.py, `run --data mnist5k --quick`
#   full:   `gradlab run --data mnist5k --device cuda` (62 settings, 1,000 samples each)
#   verify: the test of --device and bench_mnist5k.py only
#   studies: the mnist5k-paper rung's training studies in $STUDIES (default: the ones not yet committed,
#            zgr-table3 zgr-fig4-quantized), $JOBS runs at a time (default 6); finished histories
#            go to $OUT, and each study's finished runs (its .runs folder, as a tar) too, so that a study cut
#            short by its limit resumes from them elsewhere (`gradlab study` trains only the missing runs)
# The package is used from the working tree (PYTHONPATH); where mlxtend or h5netcdf is missing, wheels in .whl/
# are installed into /tmp/site first (a machine without network).
set -u
WHAT=${1:-checks}
DEV=${DEVICE:-cuda}
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
LOG=$OUT/gpu.log
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if ! $PY -c "import mlxtend, h5netcdf" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
WORK=$(mktemp -d)

step() {  # step NAME LIMIT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit} s) start $(date -u +%T)" | tee -a "$LOG"
    local t0 rc
    t0=$(date +%s.%N)
    timeout "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    echo "=== $name rc=$rc wall $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s" | tee -a "$LOG"
}

cat >"$WORK/sweep.toml" <<EOF
name = "gpu-sweep"
seed = 0
out = "$WORK/sweep.nc"
[problem]
kind = "vae"
dataset = "mnist5k"
num_vars = 4
num_classes = 4
embedding = "bits"
dtype = "float32"
batch_size = 100
[reference]
kind = "exact"
[sampling]
n = 500
seeds = [0]
wrt = "all"
[[estimators]]
name = "zgr"
[[estimators]]
name = "reinforce"
m = 4
EOF
cat >"$WORK/study.toml" <<EOF
name = "gpu-study"
about = "one short VAE run per estimator on mnist5k, on the GPU"
out = "$WORK/study.nc"
seeds = [0]
[problem]
kind = "vae"
dataset = "mnist5k"
dtype = "float32"
num_classes = 16
num_vars = 12
[train]
epochs = 2
lr = 1e-3
batch_size = 50
[[estimators]]
name = "zgr"
[[estimators]]
name = "gr_mc"
t = 0.1
m = 10
EOF

if [ "$WHAT" = checks ] || [ "$WHAT" = all ]; then
    {
        echo "### $(date -u) $(uname -m) $(nproc) cores"
        nvidia-smi -L 2>&1
        $PY -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', 'numpy', numpy.__version__)"
        git log -1 --format='commit %h %s' 2>/dev/null
    } >>"$LOG" 2>&1
    step test_device 90 $PY -m pytest -q -p no:cacheprovider tests/test_device.py
    step run_quick 180 $PY -m gradlab.cli run --data mnist5k --quick --device "$DEV" --no-progress \
        --out "$WORK/run_quick" --figures "$WORK/quick_figures"
    step bench_mnist5k 120 $PY benchmarks/bench_mnist5k.py --epochs 2 --repeats 2 --device "$DEV"
    step train_vae 60 $PY -m gradlab.cli train --problem vae --data mnist5k --num-vars 16 --num-classes 16 \
        --estimator zgr --epochs 2 --device "$DEV" --no-progress --out "$WORK/train_vae"
    step sweep 60 $PY -m gradlab.cli sweep "$WORK/sweep.toml" --device "$DEV" --no-progress
    step study 60 $PY -m gradlab.cli study "$WORK/study.toml" --device "$DEV" --no-progress
    step train_sbn 45 $PY -m gradlab.cli train --problem sbn --data mnist5k --estimator gr_mc --hp t=0.5 m=10 \
        --epochs 2 --device "$DEV" --no-progress --out "$WORK/train_sbn"
    for f in "$WORK"/run_quick/*.nc; do cp "$f" "$OUT/quick_$(basename "$f")"; done 2>/dev/null
    for f in "$WORK"/quick_figures/*pareto*.png; do cp "$f" "$OUT/quick_$(basename "$f")"; done 2>/dev/null
fi
if [ "$WHAT" = verify ]; then
    step test_device 60 $PY -m pytest -q -p no:cacheprovider tests/test_device.py
    step bench_mnist5k 90 $PY benchmarks/bench_mnist5k.py --epochs 2 --repeats 2 --device "$DEV"
fi
if [ "$WHAT" = studies ]; then
    for name in ${STUDIES:-zgr-table3 zgr-fig4-quantized}; do
        touch "$WORK/marker"
        step "study_$name" "${STUDY_LIMIT:-150}" $PY -m gradlab.cli study "$name" --scale mnist5k-paper \
            --device "$DEV" --n-jobs "${JOBS:-6}" --no-progress
        find histories/mnist5k-paper -maxdepth 1 -name '*.nc' -newer "$WORK/marker" -exec cp {} "$OUT/" \;
        for runs in histories/mnist5k-paper/*.nc.runs; do
            [ -d "$runs" ] && tar -cf "$OUT/$(basename "$runs").tar" -C histories/mnist5k-paper "$(basename "$runs")"
        done
    done
fi
if [ "$WHAT" = full ] || [ "$WHAT" = all ]; then
    step run_full "${FULL_LIMIT:-420}" $PY -m gradlab.cli run --data mnist5k --device "$DEV" --no-progress \
        --out "$WORK/run_full" --figures "$WORK/full_figures"
    for f in "$WORK"/run_full/*.nc; do cp "$f" "$OUT/full_$(basename "$f")"; done 2>/dev/null
    for f in "$WORK"/full_figures/*pareto*.png; do cp "$f" "$OUT/full_$(basename "$f")"; done 2>/dev/null
fi
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv >>"$LOG" 2>&1
ls -la "$OUT" >>"$LOG"
