"""``python -m benchmarks.bo_quality [--quick]`` — optimizer quality against peers.

The full run: all ten Olympus data sets and five stepped synthetic problems,
six methods, 20 seeds, 50 evaluations.  ``--quick``: four data sets, two
synthetic problems, 3 seeds (under 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.bo_quality import report
from benchmarks.bo_quality.methods import METHODS, make_method
from benchmarks.bo_quality.problems import OLYMPUS_DATASETS, box_problems, load_problem
from benchmarks.bo_quality.run import BATCH, N_INITIAL, run_all, save_runs

RESULTS = Path(__file__).resolve().parent.parent / "results"
QUICK_PROBLEMS = ("suzuki", "fullerenes", "snar", "colors_n9", "branin", "mgb2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bo_quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="reduced set (under 10 minutes)")
    ap.add_argument("--methods", default=",".join(METHODS), help="semicolon-separated: " + ",".join(METHODS) + "; datarial:key=value,... for engine variants")
    ap.add_argument("--problems", default=None, help="comma-separated data sets / synthetic problems")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per method and problem (default 20; quick 3)")
    ap.add_argument("--budget", type=int, default=50, help="evaluations per run (default 50)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=None, help="file stem under benchmarks/results (default bo_quality[_quick])")
    ap.add_argument("--fresh", action="store_true", help="ignore finished runs in the checkpoint file (default: resume)")
    args = ap.parse_args(argv)
    sep = ";" if ";" in args.methods or ":" in args.methods else ","
    methods = [m.strip() for m in args.methods.split(sep) if m.strip()]
    for m in methods:
        try:
            make_method(m)
        except ValueError as exc:
            ap.error(f"--methods: {exc}")
    if args.problems:
        problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    else:
        problems = list(QUICK_PROBLEMS) if args.quick else [*OLYMPUS_DATASETS, *box_problems()]
    loaded = {p: load_problem(p) for p in problems}
    seeds = list(range(args.seeds if args.seeds else (3 if args.quick else 20)))
    stem = args.out or ("bo_quality_quick" if args.quick else "bo_quality")
    t0 = time.perf_counter()
    checkpoint = RESULTS / f"{stem}.partial.jsonl"
    if args.fresh:
        checkpoint.unlink(missing_ok=True)
    runs = run_all(methods, problems, seeds, args.budget, args.workers, checkpoint=checkpoint)
    meta = {"mode": "quick" if args.quick else "full", "command": "python -m benchmarks.bo_quality " + " ".join(argv if argv is not None else sys.argv[1:]),
            "seeds": len(seeds), "initial": N_INITIAL, "batch": BATCH, "budget": args.budget,
            "workers": args.workers, "wall_s": time.perf_counter() - t0,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "pool_sizes": {p: len(v.y) for p, v in loaded.items() if v.kind == "pool"},
            "sources": {p: v.source for p, v in loaded.items()}}
    save_runs(runs, RESULTS / f"{stem}.json", meta)
    text = report.markdown(runs, meta)
    (RESULTS / f"{stem}.md").write_text(text)
    figs = report.plots(runs, RESULTS, stem)
    checkpoint.unlink(missing_ok=True)
    print(text)
    print("wrote", RESULTS / f"{stem}.json", RESULTS / f"{stem}.md", *figs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
