"""Benchmark: ``crmload compare`` of two runs of 1 M and 10 M synthetic samples each — wall time, peak memory.

    python benchmarks/compare_scale.py            # 1 M and 10 M
    python benchmarks/compare_scale.py 2000000    # one size

The two runs come from ``analysis_scale.make_run`` with different seeds (33 operations, 5 personas,
lognormal latencies, three judged hours). A fresh ``crmload compare --no-report`` process is timed
and its own peak resident memory read from ``wait4``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from analysis_scale import make_run, timed  # noqa: E402


def measure(n: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as tmp:
        base, cand = Path(tmp) / "base", Path(tmp) / "cand"
        for path, seed in ((base, 1), (cand, 2)):  # generated in children: the parent stays small
            subprocess.run([sys.executable, __file__, "--generate", str(path), str(n), str(seed)], check=True)
        argv = [sys.executable, "-m", "crmload.cli", "compare", str(base), str(cand), "--no-report"]
        wall, peak, out = timed(argv, ok=(0, 1))  # unchanged or improved, regressed
        return {
            "samples_per_run": n,
            "compare_s": round(wall, 2),
            "peak_rss_mib": round(peak),
            "result": out.splitlines()[0],
        }


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        make_run(Path(sys.argv[2]), int(sys.argv[3]), seed=int(sys.argv[4]))
        return
    for n in [int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000]:
        print(json.dumps(measure(n)), flush=True)


if __name__ == "__main__":
    main()
