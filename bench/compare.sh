#!/usr/bin/env bash
# compare.sh: attograd against PyTorch on this machine, in one run, as ratios.
# Runs bench/ag_bench and the PyTorch reference scripts alternately (attograd, PyTorch,
# attograd, PyTorch, ...) on the same cases, so machine noise hits both alike, then prints one
# table of medians and ratios (> 1 means attograd is faster).
#
#   bash bench/compare.sh [gpt|attention|gemm|all]    (default: all)
# Environment: REF=<folder with ref_*.py> (default ../shared/bench), REPS=<alternations> (3),
#              AG_BENCH=<path to ag_bench> (default build/release/bench/ag_bench),
#              OUT=<results folder> (default bench-results).
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
steps_for() { case "$1" in tiny) echo 60;; small) echo 30;; medium) echo 10;; esac; }

gpt() {
  for r in $(seq "$REPS"); do for c in tiny small medium; do for t in 1 2; do
    "$AG_BENCH" gpt --config $c --threads $t --steps "$(steps_for $c)" | tee -a "$results"
    $PY "$REF/ref_gpt.py" --config $c --threads $t --steps "$(steps_for $c)" | tee -a "$results"
  done; done; done
}

attention() {
  for r in $(seq "$REPS"); do for T in 256 1024 4096; do for t in 1 2; do
    for impl in fused plain; do
      if [ "$impl" = plain ] && [ "$T" = 4096 ]; then continue; fi
      "$AG_BENCH" attention --T $T --threads $t --impl $impl --repeats 5 | tee -a "$results"
    done
    $PY "$REF/ref_attention.py" --T $T --threads $t --repeats 5 | tee -a "$results"
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
    $PY "$REF/ref_gemm.py" --json --no-numpy | tee -a "$results"
  done
}

case "$what" in
  gpt) gpt ;; attention) attention ;; gemm) gemm ;;
  all) gemm; attention; gpt ;;
  *) echo "usage: compare.sh [gpt|attention|gemm|all]" >&2; exit 2 ;;
esac

# The table: per case, the median of each implementation's medians, and the ratio.
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
    if impl.startswith("pytorch") or impl == "torch": impl = "pytorch"  # ref_gemm.py says "torch"
    groups[(r["bench"],) + tuple(r.get(k) for k in keys)][impl].append(r[field])
for bench, (keys, field, higher) in spec.items():
    cases = sorted(k for k in groups if k[0] == bench)
    if not cases: continue
    print(f"\n{bench}: {field} (median), ratio = attograd vs pytorch, > 1 means attograd is faster")
    impls = sorted({i for k in cases for i in groups[k] if i != "pytorch"})
    print(" | ".join(list(keys) + ["pytorch"] + impls + [f"ratio {i}" for i in impls]))
    for k in cases:
        g = groups[k]
        ref = statistics.median(g["pytorch"]) if g.get("pytorch") else None
        vals = {i: statistics.median(g[i]) for i in impls if g.get(i)}
        cells = [str(x) for x in k[1:]] + [f"{ref:.4g}" if ref else "-"]
        cells += [f"{vals[i]:.4g}" if i in vals else "-" for i in impls]
        for i in impls:
            if ref and i in vals and vals[i] > 0:
                cells.append(f"{(vals[i] / ref) if higher else (ref / vals[i]):.2f}x")
            else:
                cells.append("-")
        print(" | ".join(cells))
print(f"\nraw results: {sys.argv[1]}")
PYEOF
