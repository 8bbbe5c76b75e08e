"""Five-parameter twin experiment of the sintering data assimilation.

"Observations" are made by a run with known parameters (the truth) plus
Gaussian noise; TPE and datarial's BO then minimise the 4DVar-type cost over
the five parameters of the seed study — surface and grain-boundary mobility
(D_surf, D_gb), the Allen–Cahn mobility L (M_eta), the translational mobility
m_tr and the stiffness k_st — and the script reports what they recover.

In the Wang model a grain's velocity is m_tr·k_st·(neck integral)/V, so the
data carry only the product m_tr·k_st: the table reports it beside the two
factors, and the identifiability table (J when one parameter alone is halved
or doubled from the truth) shows how tightly the observations pin each one.

Evaluations with a large L or m_tr·k_st need small steps, so the grid is 48²
and each evaluation may take at most ``--max-steps`` time steps (default
6000; beyond that J = ∞ and the minimiser moves on).  The verdict column checks the four identifiable quantities
(M_surf, M_gb, L, m_tr·k_st) against a tolerance of a factor 1.5.

Every run of the twin, the truth's included, takes the same fixed time step
(``--dt``, default 0.02), so that J is a smooth function of the parameters.
With the solver's adaptive step control (``--dt adaptive``, the setting of
the earlier results) a step is halved when it changes a field by more than a
threshold, and whether it is depends on the parameters: J then jumps by
thousands between neighbouring points, more than the differences the
minimisers have to resolve.  The smoothness table shows it: the noise-free
misfit between the truth's run and one with a parameter × 1.01 against × 1.1
(about 1/100 where the simulation is smooth in θ).  ``--truth-dt`` runs the
truth alone at another (finer) step, so that the observations also hold the
evaluations' discretisation error, as real observations would.

``--polish N`` refines each minimiser's best point with at most N more
evaluations (the trials column counts them): by least squares (Gauss–Newton
on the occupancy residuals) for occupancy observations, by Nelder–Mead for
labels (``--polish-method``); ``--polish-starts K`` refines the K best
distinct trials, sharing the N.

``--observe labels`` observes the grains told apart instead (a segmented
tomogram's labels, 2 % of voxels given a neighbour's label), ``--observe both``
the occupancy and the labels together, their misfits added.  With both,
σ_L = 0.1 by default: alone, the label misfit moves by about a hundredth of
the occupancy's when one parameter is halved or doubled (L doubled: 15
against 1253; M_gb: 38–42 against 3314–4201, the committed identifiability
tables), so 1/σ_L² = 100 gives the two a similar weight.

Run: ``python -m benchmarks.sinter_twin [--observe occupancy|labels|both] [--polish N] [--polish-starts K] [--trials 100] [--methods "tpe;bo"] [--workers 2] [--max-steps 6000] [--dt 0.02|adaptive] [--truth-dt 0.005] [--eta-scheme split|sbdf2] [--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datarial.errors import DatarialError
from datarial.sinter.assimilate import (
    Observations,
    Problem,
    Unknown,
    assimilate,
    evaluation_settings,
    twin_observations,
)
from datarial.sinter.minimisers import parse_method
from datarial.sinter.model import Parameters
from datarial.sinter.packing import random_packing
from datarial.sinter.polish import POLISH_METHODS, local_method
from datarial.sinter.solver import SolverSettings

RESULTS = Path(__file__).with_name("results")
FACTORS = (0.25, 0.5, 2.0, 4.0)  # of the identifiability table
DT = 0.02  # fixed time step of the twin (reduced time); None = the adaptive control
TOLERANCE = 1.5  # factor within which an identifiable quantity counts as recovered
TRUTH = Parameters(M_surf=4.0, M_gb=0.4, L=10.0, k_st=10.0, m_tr=50.0)
UNKNOWNS = [Unknown("M_surf", 0.4, 40.0), Unknown("M_gb", 0.04, 4.0), Unknown("L", 1.0, 100.0),
            Unknown("m_tr", 5.0, 500.0), Unknown("k_st", 1.0, 100.0)]


def twin_settings(dt: float | None, eta_scheme: str = "split") -> SolverSettings:
    """float32, at the fixed step ``dt`` (None: the adaptive control), the grain fields by ``eta_scheme`` (split,
    the solver's default until 2026-12, in the stored results)."""
    return evaluation_settings(SolverSettings(dtype="float32", eta_scheme=eta_scheme), Parameters(),
                               "adaptive" if dt is None else dt)


def make_problem(n: int, times: list[float], noise: float, observe: str = "occupancy",
                 sigma_labels: float = 1.0, dt: float | None = DT, truth_dt: float | None = None,
                 eta_scheme: str = "split") -> Problem:
    """The twin problem: occupancy with Gaussian noise σ_R = ``noise``; with ``observe`` "labels" or "both" the
    grains told apart as well (a fraction ``noise`` of voxels given a neighbour's label; σ_L = 1: J = ½ × wrong
    voxel-grain pairs).  ``dt``: the fixed time step of every evaluation (None: adaptive), and of the truth
    unless ``truth_dt`` gives the truth its own (a finer step: observations the evaluations' model cannot fit
    exactly).  ``eta_scheme``: the grain fields' scheme of every run."""
    pk = random_packing((n, n), 7, n / 7.0, seed=3, overlap=0.15)  # 7 grains at every grid size
    placeholder = Observations(np.array([1.0]), np.zeros((1, n, n)))
    problem = Problem(pk, Parameters(), UNKNOWNS, placeholder, sigma_r=noise, settings=twin_settings(dt, eta_scheme),
                      sigma_labels=sigma_labels, observe=observe)
    maker = problem if truth_dt is None else dataclasses.replace(
        problem, settings=twin_settings(truth_dt, eta_scheme))
    problem.observations = twin_observations(maker, TRUTH, times, noise=noise, seed=1,
                                             labels=observe != "occupancy")
    return problem


SMOOTH_FACTORS = (1.01, 1.1)  # of the smoothness table


def smoothness(problem: Problem, dt: float | None) -> list[str]:
    """Rows of the smoothness table: the noise-free misfit ½ Σ (ψ(θ) − ψ(truth))² / σ_R² when one parameter
    alone is × 1.01 or × 1.1, with the twin's time step and with the adaptive control (when that is not it)."""
    variants = [("adaptive", None)] if dt is None else [(f"fixed Δt = {dt:g}", dt), ("adaptive", None)]
    rows = []
    for label, step in variants:
        twin = dataclasses.replace(problem, settings=twin_settings(step, problem.settings.eta_scheme))
        ref = twin.simulate(TRUTH)
        for name in ("M_surf", "M_gb", "L", "k_st"):
            moved = [0.5 * float(np.sum((twin.simulate(TRUTH.replace(**{name: getattr(TRUTH, name) * f})) - ref)
                                        ** 2)) / problem.sigma_r**2 for f in SMOOTH_FACTORS]
            rows.append(f"| {label} | {name} | " + " | ".join(f"{v:.1f}" for v in moved)
                        + f" | {moved[0] / moved[1]:.3f} |")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_twin", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--max-steps", type=int, default=6000, help="time steps one evaluation may take")
    ap.add_argument("--methods", default="tpe;bo",
                    help="semicolon-separated minimisers, with sampler options: tpe;bo;bo:startup=20,beta=4 "
                         "(\"\": the identifiability table alone)")
    ap.add_argument("--out", default=None, help="file stem under benchmarks/results (default sinter_twin[_quick])")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (SQLite study)")
    ap.add_argument("--quick", action="store_true", help="32² and 16 trials")
    ap.add_argument("--observe", choices=("occupancy", "labels", "both"), default="occupancy",
                    help="what is observed: the occupancy (σ = 0.02 noise), the grains told apart (segmented labels, "
                         "2 %% of voxels given a neighbour's label) or both, the two misfits added")
    ap.add_argument("--labels", action="store_true", help="the same as --observe labels")
    ap.add_argument("--polish", type=int, default=0,
                    help="after each minimiser, at most this many evaluations refining its best point(s)")
    ap.add_argument("--polish-starts", type=int, default=1, help="distinct best points the polish refines")
    ap.add_argument("--polish-method", choices=POLISH_METHODS, default="auto",
                    help="least-squares (Gauss–Newton on the occupancy residuals), nelder-mead, or auto (the "
                         "first for occupancy observations)")
    ap.add_argument("--dt", default=str(DT),
                    help="fixed time step of the truth and of every evaluation, or 'adaptive' (the solver's "
                         "step control, which makes J jump with the parameters)")
    ap.add_argument("--truth-dt", type=float, default=None,
                    help="fixed time step of the truth's run alone (default: the evaluations' --dt), e.g. a finer "
                         "one, so that the observations hold a model error as well as noise")
    ap.add_argument("--eta-scheme", choices=("split", "sbdf2"), default="split",
                    help="the grain fields' scheme (default split, the solver's default until 2026-12, with which "
                         "the stored results were run; sbdf2, the default now, in sub-steps fixed at the truth's "
                         "0.025)")
    ap.add_argument("--sigma-labels", type=float, default=None,
                    help="σ_L of the label misfit (default 1 with labels alone, 0.1 with both)")
    args = ap.parse_args(argv)
    try:
        dt = None if args.dt == "adaptive" else float(args.dt)
        if dt is not None and not dt > 0:
            raise ValueError
    except ValueError:
        ap.error(f"--dt: a positive time step or 'adaptive', got {args.dt!r}")
    if args.labels:
        args.observe = "labels"
    sigma_labels = args.sigma_labels or (0.1 if args.observe == "both" else 1.0)
    methods = [m.strip() for m in args.methods.split(";") if m.strip()]
    try:
        specs = [parse_method(m, "--methods") for m in methods]
    except DatarialError as exc:
        ap.error(str(exc))
    n, trials = (32, 16) if args.quick else (48, args.trials)
    torch.set_num_threads(os.cpu_count() or 1)
    times = [4.0, 8.0, 12.0, 16.0]
    if args.truth_dt is not None and not args.truth_dt > 0:
        ap.error(f"--truth-dt: a positive time step, got {args.truth_dt}")
    problem = make_problem(n, times, 0.02, args.observe, sigma_labels, dt, args.truth_dt, args.eta_scheme)
    problem.max_steps = args.max_steps
    truth_z = [u.to_z(getattr(TRUTH, u.name)) for u in UNKNOWNS]
    t0 = time.perf_counter()
    j_truth = problem.cost(truth_z)[0]
    t_eval = time.perf_counter() - t0

    # identifiability: J with one parameter halved or doubled (product m_tr·k_st kept where noted)
    sens = []
    for i, u in enumerate(UNKNOWNS):
        row = []
        for f in FACTORS:
            z = list(truth_z)
            z[i] += math.log10(f)
            row.append(problem.cost(z)[0] - j_truth)
        sens.append((u.name, *row))
    z = list(truth_z)
    z[3] += math.log10(2.0)
    z[4] -= math.log10(2.0)
    sens.append(("m_tr ×2 with k_st ÷2", *[float("nan")] * 2, problem.cost(z)[0] - j_truth, float("nan")))
    smooth = smoothness(problem, dt)

    lines = ["# Sintering data assimilation: five-parameter twin experiment", "",
             f"`python -m benchmarks.sinter_twin{' --quick' if args.quick else ''}{' --labels' if args.labels else ''}"
             f"{f' --observe {args.observe}' if args.observe != 'occupancy' and not args.labels else ''}"
             f"{f' --sigma-labels {args.sigma_labels:g}' if args.sigma_labels else ''}"
             f"{f' --polish {args.polish}' if args.polish else ''}"
             f"{f' --polish-starts {args.polish_starts}' if args.polish_starts != 1 else ''}"
             f"{f' --polish-method {args.polish_method}' if args.polish_method != 'auto' else ''} --dt {args.dt}"
             f"{f' --truth-dt {args.truth_dt:g}' if args.truth_dt else ''}"
             f"{f' --eta-scheme {args.eta_scheme}' if args.eta_scheme != 'split' else ''} "
             f"--trials {trials} --workers {args.workers} --max-steps {args.max_steps} "
             f"--methods \"{';'.join(methods)}\"{f' --out {args.out}' if args.out else ''}` on "
             f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.", "",
             f"2D {n}², 7 grains (random packing, periodic), float32, "
             + ("adaptive time step" if dt is None else f"fixed time step Δt = {dt:g}")
             + (f" (the truth's run: Δt = {args.truth_dt:g})" if args.truth_dt else "")
             + (", grain fields by SBDF2 in sub-steps of at most 0.025" if args.eta_scheme == "sbdf2" else
                ", grain fields split") + "; observations at t = "
             f"{', '.join(f'{t:g}' for t in times)} (reduced): "
             + {"occupancy": "occupancy with Gaussian noise σ = 0.02, σ_R = 0.02",
                "labels": "grain labels (each voxel's grain where its η is largest and above ½; 2 % of voxels given "
                          "a random neighbour's label), compared with the simulation segmented the same way, "
                          f"σ_L = {sigma_labels:g}, so J = ½ × the voxels in the wrong grain (counted twice) or "
                          f"wrongly pore or solid{'' if sigma_labels == 1 else ' / σ_L²'}",
                "both": "occupancy with Gaussian noise σ = 0.02, σ_R = 0.02, and grain labels (2 % of voxels "
                        "given a random neighbour's label; the simulation segmented the same way), "
                        f"σ_L = {sigma_labels:g}; J adds the two misfits"}[args.observe]
             + f"; no background term. One evaluation takes {t_eval:.2f} s; J(truth) = {j_truth:.0f}"
             + (f" (≈ ½ × {len(times) * n * n} voxels for pure noise)." if args.observe == "occupancy" else "."), "",
             "## Identifiability: ΔJ when one parameter alone moves from the truth", "",
             "| parameter | ΔJ at ×¼ | ΔJ at ×½ | ΔJ at ×2 | ΔJ at ×4 |", "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join([name, *(f"{v:.1f}" if math.isfinite(v) else "" for v in row)]) + " |"
              for name, *row in sens]
    lines += ["", "A ΔJ of a few units is within the noise; the last row moves m_tr and k_st with their product "
              "fixed.", "", "## Smoothness: how far the simulation moves when one parameter moves a little", "",
              "½ Σ (ψ(θ) − ψ(truth))² / σ_R² without noise, one parameter alone × 1.01 or × 1.1. Where the "
              "simulation is smooth in θ the ratio of the two is about 0.01 (the misfit is quadratic in the "
              "change).", "",
              "| time step | parameter | × 1.01 | × 1.1 | ratio |", "|---|---|---:|---:|---:|", *smooth,
              "", "## Recovered parameters (best trial)", "",
              f"Tolerance: the identifiable quantities M_surf, M_gb, L and m_tr·k_st within a factor {TOLERANCE:g} "
              "of the truth (m_tr and k_st alone are not identifiable).", "",
              "| method | trials | stopped | wall [s] | best J | " + " | ".join(f"{u.name} / truth" for u in UNKNOWNS)
              + " | m_tr·k_st / truth | within tolerance |", "|---|---:|---:|---:|---:|" + "---:|" * (len(UNKNOWNS) + 1)
              + "---|"]
    if not methods:  # --methods "": the identifiability table alone
        lines = lines[:lines.index("## Recovered parameters (best trial)")]
    print("\n".join(lines))
    for label, (method, options) in zip(methods, specs, strict=True):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            res = assimilate(problem, method, trials=trials, seed=0, workers=args.workers, options=options,
                             storage=str(Path(tmp) / "study.db") if args.workers > 1 else None,
                             polish_evaluations=args.polish, polish_starts=args.polish_starts,
                             polish_method=args.polish_method)
        wall = time.perf_counter() - t0
        ratios = [res.best[u.name] / getattr(TRUTH, u.name) for u in UNKNOWNS]
        prod = res.best["m_tr"] * res.best["k_st"] / (TRUTH.m_tr * TRUTH.k_st)
        off = [name for name, r in zip(("M_surf", "M_gb", "L", "m_tr·k_st"), [*ratios[:3], prod], strict=True)
               if not 1 / TOLERANCE <= r <= TOLERANCE]
        verdict = "yes" if not off else "no: " + ", ".join(off)
        if args.polish:
            local = local_method(args.polish_method, args.observe)
            label += f" + {local} ≤ {args.polish}" + (f" from {args.polish_starts} starts" if args.polish_starts > 1
                                                       else "")
        row = (f"| {label} | {res.trials} | {res.unfinished} | {wall:.0f} | {res.best_cost:.0f} | "
               + " | ".join(f"{r:.2f}" for r in ratios) + f" | {prod:.2f} | {verdict} |")
        lines.append(row)
        print(row, flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.out or 'sinter_twin' + ('_quick' if args.quick else '')}.md"
    out.write_text("\n".join(lines) + "\n")
    print("wrote", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
