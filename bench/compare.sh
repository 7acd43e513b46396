#!/usr/bin/env bash
# compare.sh: attograd against PyTorch on this machine, in one run, as ratios.
# Runs bench/ag_bench and the PyTorch reference scripts alternately (attograd, PyTorch,
# attograd, PyTorch, ...) on the same cases, so machine noise hits both alike, then prints one
# table of medians and ratios (> 1 means attograd is faster).
#
#   bash bench/compare.sh [gpt|attention|gemm|all]    (default: all)
# Environment: REF=<folder with ref_*.py> (default ../shared/bench), REPS=<alternations> (3),
#              AG_BENCH=<path to ag_bench> (default build/release/bench/ag_bench),
#              OUT=<results folder> (default bench-results),
#              BLAS_CORES=<OpenBLAS kernel sets PyTorch runs under> (default: see below),
#              ATEN_CAP=<PyTorch's ATEN_CPU_CAPABILITY> (default: avx512 where the CPU has it).
#
# PyTorch at its best: OpenBLAS 0.3.21 does not recognise recent Xeons (family 6, model 207
# here) and falls back to its SSE3 'Prescott' kernels, 4-5x slower than its AVX-512 ones
# (GEMM 1024^3 on 2 threads: 42 against 207-252 GFLOP/s). So on an AVX-512 CPU the reference
# runs under both of OpenBLAS's AVX-512 kernel sets, SkylakeX and Cooperlake (each wins on
# some of our shapes: SkylakeX on GPT tiny, Cooperlake on medium), and the table compares
# against the faster of the two medians in each row. Elsewhere OpenBLAS picks for itself.
# Needs: the release build (cmake --preset release && cmake --build --preset release), and
# PyTorch for the reference: apt-get install -y python3-torch libopenblas0-openmp.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
REF="${REF:-$ROOT/../shared/bench}"
REPS="${REPS:-3}"
AG_BENCH="${AG_BENCH:-$ROOT/build/release/bench/ag_bench}"
OUT="${OUT:-$ROOT/bench-results}"
PY=/usr/bin/python3
what="${1:-all}"
mkdir -p "$OUT"
[ -x "$AG_BENCH" ] || { echo "compare.sh: $AG_BENCH not built (cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
[ -f "$REF/ref_gpt.py" ] || { echo "compare.sh: PyTorch reference scripts not found in $REF (set REF=...)" >&2; exit 1; }
$PY -c "import torch" 2>/dev/null || { echo "compare.sh: PyTorch missing: apt-get install -y python3-torch libopenblas0-openmp" >&2; exit 1; }

results="$OUT/compare-$(date +%Y%m%d-%H%M%S).jsonl"
flags=" $(grep -m1 '^flags' /proc/cpuinfo || true) "
has() { [[ "$flags" == *" $1 "* ]]; }
if has avx512f && has avx512vl && has avx512bw && has avx512dq; then
  BLAS_CORES="${BLAS_CORES:-SkylakeX Cooperlake}"
  ATEN_CAP="${ATEN_CAP:-avx512}"
fi
BLAS_CORES="${BLAS_CORES:-auto}"
ATEN_CAP="${ATEN_CAP:-default}"
echo "compare.sh: PyTorch runs under OpenBLAS kernel sets: $BLAS_CORES; ATen capability: $ATEN_CAP" >&2
# ref SCRIPT ARGS...: the PyTorch reference once under each kernel set
ref() {
  local script=$1; shift
  for core in $BLAS_CORES; do
    $PY "$REF/$script" "$@" --blas-core "$core" --aten-cap "$ATEN_CAP" | tee -a "$results"
  done
}
steps_for() { case "$1" in tiny) echo 60;; small) echo 30;; medium) echo 10;; esac; }

gpt() {
  for r in $(seq "$REPS"); do for c in tiny small medium; do for t in 1 2; do
    "$AG_BENCH" gpt --config $c --threads $t --steps "$(steps_for $c)" | tee -a "$results"
    ref ref_gpt.py --config $c --threads $t --steps "$(steps_for $c)"
  done; done; done
}

attention() {
  for r in $(seq "$REPS"); do for T in 256 1024 4096; do for t in 1 2; do
    for impl in fused plain; do
      if [ "$impl" = plain ] && [ "$T" = 4096 ]; then continue; fi
      "$AG_BENCH" attention --T $T --threads $t --impl $impl --repeats 5 | tee -a "$results"
    done
    ref ref_attention.py --T $T --threads $t --repeats 5
  done; done; done
}

gemm() {
  for r in $(seq "$REPS"); do
    for t in 1 2; do
      # ref_gemm.py's shapes, as M K N: squares, and the GPT MLP's up- and down-projections
      # (B*T = 2048 rows, C = 128, 256, 384 channels).
      for shape in "64 64 64" "128 128 128" "256 256 256" "512 512 512" "1024 1024 1024" \
                   "2048 2048 2048" "2048 128 512" "2048 512 128" "2048 256 1024" "2048 1024 256" \
                   "2048 384 1536" "2048 1536 384"; do
        set -- $shape
        "$AG_BENCH" gemm --m $1 --k $2 --n $3 --threads $t | tee -a "$results"
      done
    done
    ref ref_gemm.py --json --no-numpy
  done
}

case "$what" in
  gpt) gpt ;; attention) attention ;; gemm) gemm ;;
  all) gemm; attention; gpt ;;
  *) echo "usage: compare.sh [gpt|attention|gemm|all]" >&2; exit 2 ;;
esac

# The table: per case, the median of each implementation's medians, and the ratio. PyTorch's
# medians are taken per OpenBLAS kernel set, and the row compares against the best of them.
$PY - "$results" <<'PYEOF'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
spec = {  # bench: (case keys, value field, higher_is_better)
    "ref_gpt": (("config", "threads"), "tokens_per_s", True),
    "ref_attention": (("T", "threads"), "ms_median", False),
    "ref_gemm": (("M", "K", "N", "threads"), "gflops_median", True),
}
groups = defaultdict(lambda: defaultdict(list))
for r in rows:
    if r.get("bench") not in spec or "error" in r: continue
    keys, field, _ = spec[r["bench"]]
    if field not in r: continue
    impl = r.get("impl", "?")
    if impl.startswith("pytorch") or impl == "torch":  # ref_gemm.py says "torch"
        impl = "pytorch/" + r.get("blas_tag", "?").split("/")[-1]
    groups[(r["bench"],) + tuple(r.get(k) for k in keys)][impl].append(r[field])
for bench, (keys, field, higher) in spec.items():
    cases = sorted(k for k in groups if k[0] == bench)
    if not cases: continue
    print(f"\n{bench}: {field} (median), ratio = attograd vs pytorch's best kernel set, > 1 means attograd is faster")
    impls = sorted({i for k in cases for i in groups[k] if not i.startswith("pytorch/")})
    cores = sorted({i for k in cases for i in groups[k] if i.startswith("pytorch/")})
    print(" | ".join(list(keys) + cores + impls + [f"ratio {i}" for i in impls]))
    for k in cases:
        g = groups[k]
        per_core = {c: statistics.median(g[c]) for c in cores if g.get(c)}
        best = (max if higher else min)(per_core.values()) if per_core else None
        vals = {i: statistics.median(g[i]) for i in impls if g.get(i)}
        cells = [str(x) for x in k[1:]]
        cells += [(f"{per_core[c]:.4g}" + ("*" if len(per_core) > 1 and per_core[c] == best else ""))
                  if c in per_core else "-" for c in cores]
        cells += [f"{vals[i]:.4g}" if i in vals else "-" for i in impls]
        for i in impls:
            if best and i in vals and vals[i] > 0:
                cells.append(f"{(vals[i] / best) if higher else (best / vals[i]):.2f}x")
            else:
                cells.append("-")
        print(" | ".join(cells))
print("\n(* marks the kernel set each ratio is taken against)")
print(f"raw results: {sys.argv[1]}")
PYEOF
