"""The minimisers of the data assimilation as Optuna samplers: TPE, and datarial's BO engine (optionally in a
TuRBO trust region), with a space-filling start-up design shared by all workers.

Both run the same way, as samplers of one Optuna study, so worker processes on
one machine or many share them through the study's storage.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from datarial.errors import DatarialError

if TYPE_CHECKING:
    from datarial.sinter.assimilate import Unknown

METHODS = ("tpe", "bo")


def startup_design(unknowns: Sequence[Unknown], n: int, seed: int) -> np.ndarray:
    """The first ``n`` points (z values, one row each) of a scrambled Sobol sequence over the unknowns' ranges.

    Trial k of a study takes row k, so workers on any machine fill one
    space-filling design between them instead of drawing at random.
    """
    from scipy.stats import qmc

    with warnings.catch_warnings():  # a count that is not a power of two only costs a little balance
        warnings.simplefilter("ignore")
        u = qmc.Sobol(len(unknowns), scramble=True, seed=seed).random(max(n, 1))
    lo = np.array([x.z_range[0] for x in unknowns])
    hi = np.array([x.z_range[1] for x in unknowns])
    return lo + u * (hi - lo)


def _pending_trials(study, trial, names: Sequence[str], wait: float) -> list:
    """The other running trials with their point chosen (the pending points of ``trial``'s proposal).

    Workers that finish together ask together; a trial numbered before
    ``trial`` that is still choosing its point (no parameters yet) is waited
    for, up to ``wait`` seconds, so that two workers never propose the same
    point from the same data.  Later trials wait for this one in turn.
    """
    import optuna

    deadline = time.monotonic() + wait
    while True:
        running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                   if t.number != trial.number]
        chosen = [t for t in running if all(n in t.params for n in names)]
        choosing = [t for t in running if t.number < trial.number and not all(n in t.params for n in names)]
        if not choosing or time.monotonic() > deadline:
            return chosen
        time.sleep(0.05)


@dataclass(frozen=True)
class TrustRegion:
    """TuRBO-1 rules (Eriksson et al. 2019, NeurIPS) for a local search box around the best point.

    The side length ℓ (unit-cube units) doubles after ``success`` improvements
    in a row and halves after ``failure`` evaluations without one (default: the
    number of unknowns, at least 4); below ``min_length`` it restarts at
    ``init``.  The state is replayed from the trial history, so every worker, on
    any machine, computes the same box without sharing anything but the study.
    """

    init: float = 0.8
    min_length: float = 2.0**-7
    max_length: float = 1.6
    success: int = 3
    failure: int | None = None
    tolerance: float = 1e-3  # an improvement must beat the best by this fraction of |best|

    def length(self, values: Sequence[float], startup: int, dim: int) -> float:
        """ℓ after the trials ``values`` (J in trial order; inf for failed simulations)."""
        fail_after = self.failure or max(4, dim)
        ell, best, wins, losses = self.init, math.inf, 0, 0
        for k, v in enumerate(values):
            better = v < best - self.tolerance * abs(best) if math.isfinite(best) else v < best
            if k < startup:  # the design sets the first best; it does not move the box
                best = min(best, v)
                continue
            if better:
                best, wins, losses = v, wins + 1, 0
            else:
                wins, losses = 0, losses + 1
            if wins == self.success:
                ell, wins = min(2.0 * ell, self.max_length), 0
            elif losses == fail_after:
                ell, losses = ell / 2.0, 0
            if ell < self.min_length:
                ell = self.init
        return ell

    def candidates(self, centre: np.ndarray, ell: float, n: int, seed: int) -> np.ndarray:
        """``n`` Sobol points (unit cube) in the box of side ℓ around ``centre``, clipped to the cube.

        As in TuRBO, each candidate moves only some coordinates away from the centre
        (each with probability min(1, 20/d)), which keeps the search local in many dimensions.
        """
        from scipy.stats import qmc

        d = len(centre)
        lo, hi = np.clip(centre - ell / 2, 0, 1), np.clip(centre + ell / 2, 0, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = qmc.Sobol(d, scramble=True, seed=seed).random(n)
        pert = lo + u * (hi - lo)
        rng = np.random.default_rng(seed)
        mask = rng.random((n, d)) <= min(1.0, 20.0 / d)
        mask[np.flatnonzero(~mask.any(axis=1)), rng.integers(0, d, size=int((~mask.any(axis=1)).sum()))] = True
        return np.where(mask, pert, centre)


def _datarial_sampler(unknowns: Sequence[Unknown], seed: int, startup: int, design_seed: int,
                      settings: Any = None, pending_wait: float = 60.0, trust_region: TrustRegion | None = None):
    import optuna

    from datarial.optimize import Observations as Obs
    from datarial.optimize import propose, propose_from_pool
    from datarial.space import SearchSpace

    space = SearchSpace.from_dict({
        "name": "assimilation",
        "objective": {"name": "J", "goal": "minimize", "transform": "log"},
        "parameters": [{"name": f"z{i}", "type": "continuous", "low": u.z_range[0], "high": u.z_range[1],
                        "step": (u.z_range[1] - u.z_range[0]) / 400} for i, u in enumerate(unknowns)],
    })
    design = startup_design(unknowns, startup, design_seed)
    names = [f"z{i}" for i in range(len(unknowns))]

    class DatarialSampler(optuna.samplers.BaseSampler):
        """Optuna sampler: a Sobol start-up design, then datarial's engine (GP on log10 J, UCB),
        over the whole range or, with a trust region, over candidates in a box around the best."""

        def __init__(self) -> None:
            self._random = optuna.samplers.RandomSampler(seed=seed)
            self._seed = seed

        def infer_relative_search_space(self, study, trial):
            return {f"z{i}": optuna.distributions.FloatDistribution(*u.z_range) for i, u in enumerate(unknowns)}

        def sample_relative(self, study, trial, search_space):
            if trial.number < startup:
                return {f"z{i}": float(v) for i, v in enumerate(design[trial.number])}
            running = _pending_trials(study, trial, names, wait=pending_wait)
            complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                        if t.value is not None]
            done = [t for t in complete if math.isfinite(t.value) and t.value > 0]
            if len(done) < 3:
                return {}  # too few finished to fit: a random point (sample_independent)
            # Failed simulations (J = inf: blown up or over max_steps) enter at the
            # worst finite cost, so that the model steers away from them.
            failed = [t for t in complete if math.isinf(t.value)]
            worst = max(t.value for t in done)
            values = [t.value for t in done] + [worst] * len(failed)
            done += failed
            cols = {n: [t.params[n] for t in done] for n in names}
            pend = {n: [t.params[n] for t in running] for n in names}
            obs = Obs(cols, np.array(values))
            if trust_region is None:
                prop = propose(space, obs, q=1, settings=settings, seed=self._seed + trial.number,
                               pending=pend if running else None)
                return {k: float(v) for k, v in prop.conditions[0].items()}
            order = sorted(complete, key=lambda t: t.number)
            ell = trust_region.length([t.value for t in order], startup, len(names))
            best = min(done, key=lambda t: t.value)
            lo = np.array([u.z_range[0] for u in unknowns])
            width = np.array([u.z_range[1] - u.z_range[0] for u in unknowns])
            centre = (np.array([best.params[n] for n in names]) - lo) / width
            unit = trust_region.candidates(centre, ell, 200 * len(names), self._seed + trial.number)
            pool = {n: lo[i] + unit[:, i] * width[i] for i, n in enumerate(names)}
            pick = propose_from_pool(space, obs, pool, q=1, settings=settings, seed=self._seed + trial.number,
                                     pending=pend if running else None)
            # (the sampler sees a frozen trial, whose own set_user_attr would not reach a database)
            study._storage.set_trial_user_attr(trial._trial_id, "trust_region_length", ell)
            return {n: float(pool[n][pick.rows[0]]) for n in names}

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._random.sample_independent(study, trial, param_name, param_distribution)

    return DatarialSampler()


def default_startup(unknowns: Sequence[Unknown]) -> int:
    """Start-up trials before the model takes over: 4 per unknown, at least 8."""
    return max(8, 4 * len(unknowns))


def make_sampler(method: str, unknowns: Sequence[Unknown], seed: int, startup: int | None = None,
                 design_seed: int | None = None, trust_region: bool | int = False, **model: Any):
    """The Optuna sampler of a minimiser.

    ``startup``: trials before the model takes over (default :func:`default_startup`);
    for ``bo`` they are a scrambled Sobol design seeded by ``design_seed``
    (default ``seed``), shared by all workers. ``trust_region`` (``bo``): after
    the start-up, search a box around the best point whose size follows the
    TuRBO rules (:class:`TrustRegion`) instead of the whole range, meant for a
    long, narrow valley of J that a global search leaves early (on the
    five-parameter twin it did no better than the global search:
    ``benchmarks/results/sinter_twin_trust_region.md``). ``model``:
    :class:`ModelSettings` fields for ``bo`` (e.g. ``beta=4``).
    """
    import optuna

    startup = default_startup(unknowns) if startup is None else startup
    if isinstance(startup, bool) or not isinstance(startup, int) or startup < 1:
        raise DatarialError(f"startup: a whole number of trials, at least 1, got {startup!r}")
    if trust_region not in (True, False):  # also 0 and 1, as "bo:trust_region=1" gives
        raise DatarialError(f"trust_region: true or false (1 or 0), got {trust_region!r}")
    if method == "tpe":
        if model or trust_region:
            given = sorted(model) + (["trust_region"] if trust_region else [])
            raise DatarialError(f"tpe takes no model settings, got {', '.join(given)}")
        # (Optuna 5's TPE treats running trials as bad by default, the "constant liar" for parallel workers)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True)
    if method == "bo":
        from datarial.optimize.settings import ModelSettings

        return _datarial_sampler(unknowns, seed, startup, seed if design_seed is None else design_seed,
                                 ModelSettings.from_dict(model) if model else None,
                                 trust_region=TrustRegion() if trust_region else None)
    raise DatarialError(f"minimiser {method!r}: use one of {', '.join(METHODS)}")


def parse_method(spec: str, where: str = "method") -> tuple[str, dict[str, Any]]:
    """``"bo:startup=20,beta=4"`` → ("bo", {"startup": 20, "beta": 4.0}); the options are checked."""
    method, _, opts = spec.strip().partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in opts.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise DatarialError(f"{where}: options are key=value, got {item!r} in {spec!r}")
        try:
            options[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            options[key.strip()] = value.strip()
    try:
        from datarial.sinter.assimilate import Unknown

        make_sampler(method, [Unknown("M_surf", 1.0, 10.0)], 0, **options)
    except DatarialError as exc:
        raise DatarialError(f"{where}: {exc.message}") from None
    return method, options
