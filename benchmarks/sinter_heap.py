"""The sintering solvers' step cost with glibc's default heap and with freed memory kept in the heap.

:func:`datarial.devices.retain_freed_memory` (applied by every CPU ``Simulation``) raises glibc's mmap
threshold to 32 MiB and turns heap trimming off, so that a step's full-grid temporaries reuse freed pages
instead of page-faulting fresh ones in.  The setting holds for a whole process, so each timing runs in a
child process, with ``DATARIAL_RETAIN_HEAP=0`` (glibc's default) or without (retained), alternating for
``--rounds`` rounds; the table gives each step's shortest time over the rounds.

Cases: 2D 512² with 60 grains and 3D 128³ with 24 grains (the packings of ``benchmarks.sinter_speed``),
periodic, float64; the explicit step (Δt 0.002) by the fused kernel and in torch operations (the reference
of earlier versions, with many more temporaries), the spectral step (Δt 0.05) and the spectral step with
the grain fields by SBDF2 in 2 sub-steps; each the shortest of 4 stretches (2D: 20 steps, 3D: 3 steps)
after a warm-up step, owner-map updates left out; speed-ups against the fused explicit kernel.

Run: ``python -m benchmarks.sinter_heap [--rounds 3] [--out NAME]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._results import write_result

RESULTS = Path(__file__).with_name("results")
CASES = ("2D 512², 60 grains", "3D 128³, 24 grains")
METHODS = ("explicit FD (fused kernel), Δt 0.002", "explicit FD in torch operations, Δt 0.002", "spectral, Δt 0.05",
           "spectral, Δt 0.05, η by SBDF2 in 2 sub-steps")
EXPLICIT = METHODS[:2]


def child() -> dict:
    """Step costs (ms) of every case and method in this process, and whether the heap setting is on."""
    import torch

    from benchmarks.sinter_speed import packing_2d, packing_3d
    from datarial.devices import retain_freed_memory
    from datarial.sinter.model import Parameters
    from datarial.sinter.solver import Simulation, SolverSettings, initial_state, without_kernels

    torch.set_num_threads(os.cpu_count() or 1)
    out: dict = {"retained": retain_freed_memory()}
    packings = {CASES[0]: (packing_2d(), 20), CASES[1]: (packing_3d(), 3)}
    explicit = SolverSettings(method="explicit", dt=0.002, adaptive=False, owner_every=10**9)
    settings = {METHODS[0]: explicit, METHODS[1]: explicit,
                METHODS[2]: SolverSettings(dt=0.05, adaptive=False, owner_every=10**9, eta_scheme="split"),
                METHODS[3]: SolverSettings(dt=0.05, adaptive=False, owner_every=10**9, eta_scheme="sbdf2")}
    for case, (pk, n) in packings.items():
        for method, s in settings.items():
            sim = Simulation(initial_state(pk, s), Parameters(), s)
            with without_kernels() if method == METHODS[1] else contextlib.nullcontext():
                sim.step()
                best = float("inf")
                for _ in range(4):
                    t0 = time.perf_counter()
                    for _ in range(n):
                        sim.step()
                    best = min(best, (time.perf_counter() - t0) / n)
            out[f"{case} | {method}"] = best * 1e3
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_heap", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="alternating child runs per setting")
    ap.add_argument("--out", default="sinter_heap", help="name of the result file in benchmarks/results")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child()))
        return 0
    if args.rounds < 1:
        ap.error("--rounds: a whole number ≥ 1")
    runs: dict[str, list[dict]] = {"default": [], "retained": []}
    root = Path(__file__).resolve().parent.parent
    for r in range(args.rounds):
        for mode in ("default", "retained"):
            env = {**os.environ, "DATARIAL_RETAIN_HEAP": "0" if mode == "default" else "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
            done = subprocess.run([sys.executable, "-m", "benchmarks.sinter_heap", "--child"], env=env, cwd=root,
                                  capture_output=True, text=True, check=True)
            got = json.loads(done.stdout.strip().splitlines()[-1])
            if got.pop("retained") != (mode == "retained"):
                raise SystemExit(f"the heap setting did not take effect as asked ({mode}) on this system")
            runs[mode].append(got)
            print(f"round {r + 1}, {mode}: " + ", ".join(f"{k.split(' | ')[1].split(',')[0]} {v:.1f}"
                                                        for k, v in got.items()), flush=True)
    best = {mode: {k: min(run[k] for run in rs) for k in rs[0]} for mode, rs in runs.items()}
    lines = ["# Sintering solver: step cost with glibc's default heap and with freed memory retained", "",
             f"`python -m benchmarks.sinter_heap{f' --rounds {args.rounds}' if args.rounds != 3 else ''}` on "
             f"{platform.machine()}, {os.cpu_count()} cores, float64; shortest time per step over {args.rounds} "
             "alternating child processes per setting.", "",
             "| case | method | glibc default [ms] | retained [ms] | default / retained | "
             "speed-up over explicit: default | retained |", "|---|---|---:|---:|---:|---:|---:|"]
    for case in CASES:
        ref = {mode: best[mode][f"{case} | {METHODS[0]}"] / 0.002 for mode in best}  # wall per simulated time
        for method in METHODS:
            key = f"{case} | {method}"
            d, k = best["default"][key], best["retained"][key]
            dt = 0.002 if method in EXPLICIT else 0.05
            lines.append(f"| {case} | {method} | {d:.2f} | {k:.2f} | {d / k:.2f} | "
                         f"{ref['default'] / (d / dt):.1f}× | {ref['retained'] / (k / dt):.1f}× |")
    write_result(RESULTS, args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
