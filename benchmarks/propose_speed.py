"""Time one proposal of a batch of 5 (model fit + batch search), as a campaign would.

Cells: 2, 3 and 6 parameters × 20, 50 and 100 observations; median of
``--repeats`` runs for datarial.  The reference, measured in the same run, is
the general-purpose BoTorch recipe: a default ``SingleTaskGP`` fitted with
``fit_gpytorch_mll``, ``qLogNoisyExpectedImprovement`` and ``optimize_acqf``
(q=5, 10 restarts, 512 raw samples) on the continuous relaxation, then
rounded to the grid.

    python -m benchmarks.propose_speed [--repeats 5] [--reference-repeats 1] [--no-reference]

Prints a Markdown table and writes it to ``benchmarks/results/propose_speed.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from datarial.optimize import Observations, propose
from datarial.space import SearchSpace, space_from_text

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).with_name("results")

SPACES = {
    2: """
name: b2
objective: {name: Jc, unit: A/cm2}
parameters:
  - {name: T_max, low: 550, high: 900, step: 10, unit: degC}
  - {name: t_hold, low: 0, high: 3000, step: 10, unit: min}
""",
    3: """
name: b3
objective: {name: Jc, unit: A/cm2}
parameters:
  - {name: T_max, low: 550, high: 900, step: 10, unit: degC}
  - {name: t_hold, low: 0, high: 3000, step: 10, unit: min}
  - {name: MgB2_frac, type: categorical, values: [0, 10, 30], unit: "%"}
""",
    6: """
name: b6
objective: {name: Jc, unit: A/cm2}
parameters:
  - {name: ramp_rate, low: 10, high: 200, step: 5, unit: degC/min}
  - {name: T_max, low: 500, high: 800, step: 5, unit: degC}
  - {name: dwell_time, low: 1, high: 60, step: 1, unit: min}
  - {name: pressure, low: 10, high: 100, step: 5, unit: MPa}
  - {name: Ag_frac, low: 0, high: 20, step: 0.5, unit: wt%}
  - {name: anneal_T, low: 300, high: 600, step: 10, unit: degC}
constraints: ["T_max + 2*dwell_time <= 850"]
""",
}


def synthetic_data(space: SearchSpace, n: int, seed: int) -> Observations:
    """n feasible grid points with a smooth two-bump objective plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n:
        idx = np.column_stack([rng.integers(0, k, 4 * n) for k in space.n_levels])
        rows.extend(idx[space.feasible_indices(idx)])
    idx = np.array(rows[:n])
    cols = space.values_from_indices(idx)
    u = space.unit_from_indices(idx)
    num = [j for j, p in enumerate(space.parameters) if p.is_numeric]
    z = u[:, num]
    y = np.exp(-8 * ((z - 0.4) ** 2).sum(1)) + 0.8 * np.exp(-12 * ((z - 0.8) ** 2).sum(1))
    y = 1e4 * y + rng.normal(0, 200, n)
    return Observations({k: list(v) for k, v in cols.items()}, y)


def time_datarial(space: SearchSpace, obs: Observations, repeats: int) -> float:
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        propose(space, obs, q=5, acquisition="ei", seed=r)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_reference(space: SearchSpace, obs: Observations, repeats: int) -> float:
    """Plain BoTorch: default GP, qLogNEI, optimize_acqf on the box, round to the grid."""
    from botorch.acquisition import qLogNoisyExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.input import Normalize
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    # One-hot is what a general recipe would do for categoricals; keep it simple: index as a number.
    X = torch.tensor(space.to_unit(obs.columns), dtype=torch.float64)
    Y = torch.tensor(obs.values, dtype=torch.float64).unsqueeze(-1)
    hi = torch.tensor([p.n_levels - 1 if p.kind == "categorical" else 1.0 for p in space.parameters], dtype=torch.float64)
    bounds = torch.stack([torch.zeros(space.dim, dtype=torch.float64), hi])
    times = []
    for r in range(repeats):
        torch.manual_seed(r)
        t0 = time.perf_counter()
        model = SingleTaskGP(X, Y, input_transform=Normalize(space.dim, bounds=bounds), outcome_transform=Standardize(1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        acqf = qLogNoisyExpectedImprovement(model, X_baseline=X, prune_baseline=True)
        cand, _ = optimize_acqf(acqf, bounds=bounds, q=5, num_restarts=10, raw_samples=512)
        cand = cand.detach()
        idx = np.empty(tuple(cand.shape), dtype=np.int64)  # round to the grid, as a user must
        for j, p in enumerate(space.parameters):
            if p.kind == "categorical":
                idx[:, j] = np.rint(cand[:, j].numpy())
            else:
                idx[:, j] = [p.index_of(p.low + v * (p.high - p.low)) for v in cand[:, j].numpy()]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reference-repeats", type=int, default=1)
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--dims", type=int, nargs="*", default=[2, 3, 6])
    ap.add_argument("--n", type=int, nargs="*", default=[20, 50, 100])
    args = ap.parse_args(argv)

    torch.set_num_threads(torch.get_num_threads())
    # Warm-up (imports, first-call overheads) outside the timings.
    warm = space_from_text(SPACES[2])
    propose(warm, synthetic_data(warm, 10, 0), q=2, seed=0)

    lines = [
        f"Proposal time for a batch of 5 (fit + search), median of {args.repeats} runs; "
        f"reference: plain BoTorch qLogNEI + optimize_acqf, median of {args.reference_repeats}.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}.",
        "",
        "| parameters | observations | datarial [s] | plain BoTorch [s] | speed-up |",
        "|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for d in args.dims:
        space = space_from_text(SPACES[d])
        for n in args.n:
            obs = synthetic_data(space, n, seed=d * 1000 + n)
            ours = time_datarial(space, obs, args.repeats)
            if args.no_reference:
                ref_txt, ratio = "-", "-"
            else:
                ref = time_reference(space, obs, args.reference_repeats)
                ref_txt, ratio = f"{ref:.2f}", f"{ref / ours:.1f}×"
            line = f"| {d} | {n} | {ours:.2f} | {ref_txt} | {ratio} |"
            lines.append(line)
            print(line, flush=True)
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "propose_speed.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
