"""Local refinement of the data assimilation ("polish"): from the best points of a global search, walk down J.

A global search (TPE, BO) with a hundred evaluations in five dimensions finds
the basins of J but stops short of their floors.  :func:`polish` refines the
best trials of the study with a local minimiser and records every evaluation
as a trial (user attribute ``stage = "polish"``, ``start`` = which start), so
the history, the best point and the figures include them:

* ``least-squares`` — J = ½‖r‖² is a sum of squares (background terms and the
  occupancy misfit per voxel), so a trust-region Gauss–Newton method (scipy's
  ``least_squares``, "trf") on the residual vector r, with a forward-difference
  Jacobian (one evaluation per unknown), converges in a few iterations where
  J is smooth — with a fixed time step (:func:`~datarial.sinter.assimilate.evaluation_settings`).
  It holds the Jacobian: unknowns × voxels × observed times numbers.
* ``nelder-mead`` — needs only J; the only choice for the label misfit, a
  count of voxels that is not smooth in θ.
* ``auto`` — least squares for occupancy observations, Nelder–Mead otherwise.

``starts`` > 1 refines several distinct trials (the best ones at least
``step`` of the range apart in some unknown), sharing the budget, for a J
with several valleys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from datarial.errors import DatarialError

POLISH_METHODS = ("auto", "least-squares", "nelder-mead")


class _Spent(Exception):
    """The evaluations of one start are used up (or its simulation failed): stop the local minimiser."""


def local_method(method: str, observe: str) -> str:
    """The local minimiser that ``method`` means for observations of kind ``observe`` (auto: least squares for
    the occupancy, Nelder–Mead for labels); least squares for labels is refused."""
    if method not in POLISH_METHODS:
        raise DatarialError(f"polish: method {method!r}: use one of {', '.join(POLISH_METHODS)}")
    if method == "auto":
        return "least-squares" if observe == "occupancy" else "nelder-mead"
    if method == "least-squares" and observe != "occupancy":
        raise DatarialError(f"polish: least-squares needs a smooth misfit, the occupancy; observe is {observe!r} "
                            "(use nelder-mead)")
    return method


def distinct_starts(points: np.ndarray, values: np.ndarray, n: int, separation: float) -> list[int]:
    """Indices of up to ``n`` points, best (lowest value) first, each at least ``separation`` from every one
    chosen before in some coordinate (max-norm; the points in unit-range coordinates)."""
    chosen: list[int] = []
    for k in np.argsort(values, kind="stable"):
        if all(np.max(np.abs(points[k] - points[c])) >= separation for c in chosen):
            chosen.append(int(k))
            if len(chosen) == n:
                break
    return chosen


def polish(problem: Any, study: Any, evaluations: int, step: float = 0.1, starts: int = 1, method: str = "auto",
           progress: Callable[[int, int], None] | None = None) -> int:
    """Refine the study's best trial(s) with at most ``evaluations`` evaluations in all; returns how many were made.

    ``problem``: a :class:`~datarial.sinter.assimilate.Problem`; the search is
    in z (log10 θ for log-scale unknowns), inside the unknowns' ranges.
    ``step``: Nelder–Mead's initial simplex sides and the separation of
    distinct starts, as a fraction of each unknown's z range (the Jacobian's
    difference step is 1/20 of it).  ``starts``: how many distinct trials to
    refine, the budget split between them.  ``method``: one of
    :data:`POLISH_METHODS`.
    """
    import optuna

    for name, value, least in (("evaluations", evaluations, 1), ("starts", starts, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DatarialError(f"polish: {name}: a whole number, at least {least}, got {value!r}")
    method = local_method(method, problem.mode())
    unknowns = problem.unknowns
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and math.isfinite(t.value)]
    if not done:
        raise DatarialError("polish: no finished evaluation with a finite cost to start from")
    lo, hi = np.array([u.z_range for u in unknowns], dtype=float).T
    names = [f"z{i}" for i in range(len(unknowns))]
    points = np.array([[t.params[n] for n in names] for t in done])
    picks = distinct_starts((points - lo) / (hi - lo), np.array([t.value for t in done]), starts, step)
    dists = {n: optuna.distributions.FloatDistribution(*u.z_range) for n, u in zip(names, unknowns, strict=True)}
    count = 0

    def record(z: np.ndarray, j: float, jb: float, jo: float, failure: str | None, start: int) -> None:
        nonlocal count
        attrs: dict[str, Any] = {"stage": "polish", "start": start, "J_background": jb, "J_observation": jo,
                                 **{u.name: u.from_z(float(v)) for u, v in zip(unknowns, z, strict=True)}}
        if failure:
            attrs["failure"] = failure
        study.add_trial(optuna.trial.create_trial(params={n: float(v) for n, v in zip(names, z, strict=True)},
                                                  distributions=dists, value=j, user_attrs=attrs))
        count += 1
        if progress is not None:
            progress(count, evaluations)

    for s, k in enumerate(picks):
        budget = count + (evaluations - count) // (len(picks) - s)  # what an earlier start left is shared on
        x0 = points[k].copy()
        if method == "nelder-mead":
            _nelder_mead(problem, x0, lo, hi, step, budget, lambda: count, record, s)
        else:
            _least_squares(problem, x0, lo, hi, step / 20, budget, lambda: count, record, s)
    return count


def _nelder_mead(problem, x0, lo, hi, step, budget, spent, record, start) -> None:
    from scipy.optimize import minimize

    simplex = [x0]
    for i in range(len(x0)):
        x = x0.copy()
        d = step * (hi[i] - lo[i])
        x[i] = x[i] + d if x[i] + d <= hi[i] else x[i] - d  # inward at the upper end of the range
        simplex.append(x)

    def cost(x: np.ndarray) -> float:
        if spent() >= budget:  # Nelder–Mead may ask once more than maxfev
            raise _Spent
        z = np.clip(x, lo, hi)
        j, jb, jo, failure = problem.evaluate(z)
        record(z, j, jb, jo, failure, start)
        return j

    try:
        minimize(cost, x0, method="Nelder-Mead", bounds=list(zip(lo, hi, strict=True)),
                 options={"maxfev": budget - spent(), "initial_simplex": np.array(simplex), "xatol": 1e-3,
                          "fatol": 1e-6})
    except _Spent:
        pass


def _least_squares(problem, x0, lo, hi, rel_step, budget, spent, record, start) -> None:
    from scipy.optimize import least_squares

    last: dict[str, Any] = {}  # the last point least_squares asked for and its residuals (its Jacobian's base)

    def run(x: np.ndarray) -> np.ndarray:
        if spent() >= budget:
            raise _Spent
        z = np.clip(x, lo, hi)
        try:
            rb, ro = problem.residuals(z)
        except DatarialError as exc:  # blew up or passed max_steps: this start ends here
            rb = problem.background_residuals(z)
            record(z, math.inf, 0.5 * float(rb @ rb), math.inf, str(exc), start)
            raise _Spent from None
        jb, jo = 0.5 * float(rb @ rb), 0.5 * float(ro @ ro)
        record(z, jb + jo, jb, jo, None, start)
        return np.concatenate([rb, ro])

    def residuals(x: np.ndarray) -> np.ndarray:
        key = np.asarray(x, dtype=float).tobytes()
        if last.get("key") != key:
            last.update(key=key, r=run(x))
        return last["r"]

    def jacobian(x: np.ndarray) -> np.ndarray:
        r0 = residuals(x)  # trf asks for the Jacobian where it last evaluated: no new run
        cols = []
        for i in range(len(x)):
            h = rel_step * (hi[i] - lo[i])
            h = h if x[i] + h <= hi[i] else -h  # inward at the upper end of the range
            e = x.copy()
            e[i] += h
            cols.append((run(e) - r0) / h)
        return np.stack(cols, axis=1)

    try:
        least_squares(residuals, x0, jac=jacobian, bounds=(lo, hi), method="trf", x_scale=hi - lo,
                      max_nfev=budget, xtol=1e-4, ftol=1e-6)
    except _Spent:
        pass
