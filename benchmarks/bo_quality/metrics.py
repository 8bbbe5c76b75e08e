"""Metrics of one optimization run (pure functions of the evaluation trace).

Pool runs: Top%(i) — the fraction of the pool's top 5 % found within the first
i evaluations; EF(i) = Top%(i) / (i / N), the enhancement over random
sampling (whose expected Top%(i) is i/N).  All runs: best value so far and
simple regret (best possible − best found, ≥ 0, in the objective's units;
for box problems on the noise-free values).
"""

from __future__ import annotations

import numpy as np


def top_fraction(rows: np.ndarray, top: np.ndarray, i: int) -> float:
    """Top%(i): fraction of the rows in ``top`` among the first ``i`` evaluated ``rows``."""
    return len(np.intersect1d(np.asarray(rows)[:i], top)) / len(top)


def enhancement_factor(rows: np.ndarray, top: np.ndarray, i: int, pool_size: int) -> float:
    """EF(i) = Top%(i) / (i / N)."""
    return top_fraction(rows, top, i) / (i / pool_size)


def best_so_far(scores: np.ndarray) -> np.ndarray:
    """Running best of "larger is better" scores."""
    return np.maximum.accumulate(np.asarray(scores, float))


def simple_regret(scores: np.ndarray, best_possible: float) -> np.ndarray:
    """best possible − best so far after each evaluation (scores: larger is better)."""
    return np.maximum(best_possible - best_so_far(scores), 0.0)


def run_metrics(run: dict, problem, checkpoints=(10, 25, 50)) -> dict:
    """Metrics of one run record (see :func:`benchmarks.bo_quality.run.run_one`)."""
    out: dict = {}
    true_scores = problem.score(np.asarray(run["true_values"], float))
    if problem.kind == "pool":
        top = problem.top_set()
        rows = np.asarray(run["rows"])
        best_possible = float(problem.score(problem.y).max())
        for i in checkpoints:
            if i <= len(rows):
                out[f"top_{i}"] = top_fraction(rows, top, i)
                out[f"ef_{i}"] = enhancement_factor(rows, top, i, len(problem.y))
        out["top_curve"] = [top_fraction(rows, top, i) for i in range(1, len(rows) + 1)]
    else:
        best_possible = float(problem.score(np.array([problem.optimum]))[0])
    regret = simple_regret(true_scores, best_possible)
    out["regret_curve"] = regret.tolist()
    out["final_regret"] = float(regret[-1])
    out["best_curve"] = problem.score(best_so_far(true_scores)).tolist()  # back in objective units
    times = [t for t in run["ask_seconds"]]
    out["median_ask_s"] = float(np.median(times)) if times else float("nan")
    return out
