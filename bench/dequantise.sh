#!/usr/bin/env bash
# Benchmark: dequantising one tile (int8 (1139, 729, 128) × f32 scales) on one core,
# against memcpy (same run, inside the Rust bench) and NumPy's
# `q.astype(np.float32) * s[..., None]` (the reference's dequantize_embedding).
# Usage: bench/dequantise.sh   (env: TESSERA_PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${TESSERA_PYTHON:-python3}
taskset -c 0 cargo bench -q -p tessera-core --bench dequantise 2>/dev/null || cargo bench -q -p tessera-core --bench dequantise
OPENBLAS_NUM_THREADS=1 taskset -c 0 "$PY" - <<'PYEOF'
import time, numpy as np
h, w, b = 1139, 729, 128
q = (np.arange(h * w * b, dtype=np.uint64) * 2654435761 >> 13).astype(np.int8).reshape(h, w, b)
s = (0.05 + (np.arange(h * w) % 97) * 1e-3).astype(np.float32).reshape(h, w)
best = 1e9
for _ in range(7):
    t = time.perf_counter(); out = q.astype(np.float32) * s[..., None]; best = min(best, time.perf_counter() - t)
print(f"numpy dequantise:        {best*1e3:.3f} ms  {q.nbytes/1e9/best:.2f} GB/s of int8 input")
PYEOF
