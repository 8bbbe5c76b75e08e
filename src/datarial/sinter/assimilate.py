"""Data assimilation: identify model parameters from observed microstructures (4DVar-type cost, BO or TPE).

The simulation from parameters θ is compared with observations y_t (voxel
occupancy ψ ∈ [0, 1]: 1 inside particles) at each observed time t through the
observation operator H(x) = clip(ρ, 0, 1).  The cost is

    J(θ) = ½ Σ_k ((z_k − z_b,k) / σ_b,k)²  +  ½ Σ_t Σ_voxels (H(x_t(θ)) − y_t)² / σ_R²

(with observed grain labels, the misfit counts the voxels in the wrong grain,
:func:`label_misfit`, over σ_L² instead; ``observe="both"`` adds the two
terms), with z = log10 θ for parameters searched
on a log scale (θ otherwise), a diagonal background covariance B = diag(σ_b²) around the prior z_b, and
R = σ_R² I.  Because the gradient of J with respect to θ is out of reach, J is
minimised by Optuna's TPE or by datarial's Bayesian optimisation (a GP on
log10 J, as an Optuna sampler), so both run the same way: trials in an Optuna
study whose storage can be a database (SQLite file, PostgreSQL), shared by
worker processes on one machine or many; a worker that dies loses only its
running trial (Optuna's heartbeat marks it failed; a trial killed before its
first heartbeat, which Optuna never marks, is failed by `fail_orphaned_trials`).

Every evaluation should take the same fixed time step (:func:`evaluation_settings`,
the ``dt`` setting): the solver's adaptive control halves a step that changes
a field by more than a threshold, and whether it does depends on θ, so J
jumps between neighbouring points (in the five-parameter twin, L × 1.01 moved
the simulation by 3471 in J's units where L × 1.1 moved it by 128:
benchmarks/results/sinter_twin_fixed_profile.md) and no minimiser can settle
in its minimum.  With a fixed step J is a smooth function of θ.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from datarial.errors import DatarialError
from datarial.sinter.grain_step import sbdf2_sub_step
from datarial.sinter.minimisers import METHODS, make_sampler
from datarial.sinter.model import Parameters
from datarial.sinter.packing import Packing
from datarial.sinter.polish import POLISH_METHODS, local_method, polish
from datarial.sinter.solver import Simulation, SolverSettings, initial_state

OBSERVE = ("occupancy", "labels", "both")  # what the misfit compares (Problem.observe)


@dataclass(frozen=True)
class Unknown:
    """A parameter to identify: name (a :class:`Parameters` field), search range, scale and prior."""

    name: str
    low: float
    high: float
    log: bool = True
    prior: float | None = None  # background value θ_b (default: the geometric/arithmetic middle)
    prior_sd: float | None = None  # σ_b in decades (log) or in the parameter's unit; None → no background term

    def __post_init__(self) -> None:
        if self.name not in Parameters.__dataclass_fields__:
            raise DatarialError(f"unknown parameter {self.name!r}; known: {', '.join(Parameters.__dataclass_fields__)}")
        if not self.low < self.high:
            raise DatarialError(f"{self.name}: the range needs low < high, got {self.low} … {self.high}")
        if self.log and self.low <= 0:
            raise DatarialError(f"{self.name}: a log-scale range must be positive, got low = {self.low}")

    def to_z(self, value: float) -> float:
        return math.log10(value) if self.log else value

    def from_z(self, z: float) -> float:
        return 10.0**z if self.log else z

    @property
    def z_range(self) -> tuple[float, float]:
        return self.to_z(self.low), self.to_z(self.high)

    @property
    def z_prior(self) -> float:
        return self.to_z(self.prior) if self.prior is not None else 0.5 * sum(self.z_range)


@dataclass(frozen=True)
class Observations:
    """Observed occupancy volumes ψ (1 inside particles) at reduced times, on the simulation grid.

    ``labels`` (optional, (T, *grid) whole numbers): which grain each voxel
    belongs to (0 = pore, k = grain k of the start's labelling), as a
    segmented tomogram with its particles told apart gives.  With labels the
    misfit compares every grain's own occupancy (:func:`label_misfit`), so
    boundary motion is seen, not only the density.
    """

    times: np.ndarray
    occupancy: np.ndarray  # (T, *grid) in [0, 1]
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.times) != len(self.occupancy) or len(self.times) == 0:
            raise DatarialError("observations need one volume per time, at least one")
        if np.any(np.diff(self.times) <= 0) or self.times[0] <= 0:
            raise DatarialError("observation times must be positive and increasing")
        if self.labels is not None:
            if self.labels.shape != self.occupancy.shape:
                raise DatarialError(f"observed labels have shape {self.labels.shape}, the occupancy "
                                    f"{self.occupancy.shape}")
            if not np.issubdtype(self.labels.dtype, np.integer) or self.labels.min() < 0:
                raise DatarialError("observed labels must be whole numbers, 0 for pores")


def _occupancy(state: Any) -> np.ndarray:
    """The observation operator H(x) = clip(ρ, 0, 1), as a NumPy array."""
    return state.rho.clamp(0, 1).detach().cpu().numpy()


def label_misfit(state: Any, labels: np.ndarray) -> float:
    """Σ_voxels Σ_grains (ψ_k − y_k)² with ψ_k = [simulated grain = k], y_k = [labels = k].

    The simulation is segmented as the observations were (each voxel to the
    grain with the largest η, where above ½: :meth:`State.grain_map`), so the
    misfit counts voxels in the wrong grain (2: one grain missed, one wrongly
    there) or wrongly pore or solid (1).  Comparing soft η with hard labels
    instead leaves a misfit at every interface that depends on the parameters
    (a larger L scored better than the truth in the twin experiment).
    """
    sim = state.grain_map() + 1
    obs = np.asarray(labels)
    wrong = sim != obs
    return float(np.sum(wrong) + np.sum(wrong & (sim > 0) & (obs > 0)))


@dataclass
class Problem:
    """Everything one evaluation needs: start, fixed parameters, unknowns, observations, error model."""

    packing: Packing
    base: Parameters
    unknowns: Sequence[Unknown]
    observations: Observations
    sigma_r: float = 0.1  # observation error of ψ per voxel
    settings: SolverSettings = field(default_factory=SolverSettings)
    anisotropy: Sequence[float] | None = None  # k0…k3 of γ(n), if the surface energy is anisotropic
    pair_factors: np.ndarray | None = None  # boundary-energy pair factors (read_shockley), for the base parameters
    max_steps: int | None = None  # time steps one evaluation may take; beyond, it fails (J = inf)
    sigma_labels: float = 1.0  # σ_L of the label misfit (per voxel-grain mismatch): J_labels = ½ count / σ_L²
    observe: str | None = None  # "occupancy", "labels" or "both"; None: labels where observed, else occupancy
    _start: Any = field(default=None, init=False, repr=False)  # the initial State, built on first use

    def parameters(self, z: Sequence[float]) -> Parameters:
        return self.base.replace(**{u.name: u.from_z(float(v)) for u, v in zip(self.unknowns, z, strict=True)})

    def states(self, params: Parameters):
        """The simulated state at each observed time, in turn (one run)."""
        if self._start is None:  # the same start for every evaluation: build it once
            self._start = initial_state(self.packing, self.settings)
        sim = Simulation(self._start.copy(), params, self.settings,
                         anisotropy=None if self.anisotropy is None else np.asarray(self.anisotropy, dtype=float),
                         pair_factors=self.pair_factors)
        for t in self.observations.times:
            sim.run(float(t), max_steps=self.max_steps or 10_000_000)
            yield sim.state

    def simulate(self, params: Parameters) -> np.ndarray:
        """H(x_t) = clip(ρ, 0, 1) at every observed time, (T, *grid)."""
        return np.stack([_occupancy(st) for st in self.states(params)])

    def mode(self) -> str:
        """What the misfit compares: :attr:`observe`, checked against the observations."""
        mode = self.observe or ("labels" if self.observations.labels is not None else "occupancy")
        if mode not in OBSERVE:
            raise DatarialError(f"observe: one of {', '.join(OBSERVE)}, got {mode!r}")
        if mode != "occupancy" and self.observations.labels is None:
            raise DatarialError(f"observe: {mode!r} needs observed labels (grain maps or label volumes)")
        return mode

    def check(self) -> str:
        """:meth:`mode`, after checking the error model (σ_R, σ_L positive)."""
        if not (self.sigma_r > 0 and self.sigma_labels > 0):
            raise DatarialError(f"sigma_r and sigma_labels must be positive, got {self.sigma_r}, {self.sigma_labels}")
        return self.mode()

    def misfits(self, params: Parameters) -> dict[str, float]:
        """The misfit sums of one run: ``occupancy`` Σ_t Σ_voxels (H(x_t) − y_t)² and/or ``labels``
        Σ_t :func:`label_misfit`, as :meth:`mode` asks."""
        mode, obs = self.mode(), self.observations
        out = dict.fromkeys(("occupancy", "labels") if mode == "both" else (mode,), 0.0)
        for k, st in enumerate(self.states(params)):
            if "occupancy" in out:
                out["occupancy"] += float(np.sum((_occupancy(st) - obs.occupancy[k]) ** 2))
            if "labels" in out:
                out["labels"] += label_misfit(st, obs.labels[k])
        return out

    def observation_term(self, misfits: dict[str, float]) -> float:
        """½ Σ misfit / σ²: σ_R for the occupancy, σ_L for the labels."""
        sigma = {"occupancy": self.sigma_r, "labels": self.sigma_labels}
        return sum(0.5 * v / sigma[k] ** 2 for k, v in misfits.items())

    def background_residuals(self, z: Sequence[float]) -> np.ndarray:
        """(z_k − z_b,k) / σ_b,k for the unknowns with a prior σ_b: J_b = ½ Σ of their squares."""
        return np.array([(float(v) - u.z_prior) / u.prior_sd
                         for u, v in zip(self.unknowns, z, strict=True) if u.prior_sd])

    def residuals(self, z: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """(background, observation) residuals at z, J = ½ ‖both‖²: the observation residual is
        (H(x_t) − y_t) / σ_R per voxel and time (occupancy observations only; the label misfit is a count).
        A simulation that blows up or passes ``max_steps`` raises :class:`DatarialError`."""
        mode = self.check()
        if mode != "occupancy":
            raise DatarialError(f"residuals: the occupancy misfit only, observe is {mode!r}")
        obs = self.observations.occupancy
        ro = np.concatenate([((_occupancy(st) - obs[k]) / self.sigma_r).ravel()
                             for k, st in enumerate(self.states(self.parameters(z)))])
        return self.background_residuals(z), ro

    def cost(self, z: Sequence[float]) -> tuple[float, float, float]:
        """(J, background term, observation term) at z (log10 θ for log-scale unknowns)."""
        return self.evaluate(z)[:3]

    def evaluate(self, z: Sequence[float]) -> tuple[float, float, float, str | None]:
        """Like :meth:`cost`, plus why the simulation failed (blew up, or passed ``max_steps``), else None."""
        self.check()  # set-up errors are raised, not scored as a failed simulation
        rb = self.background_residuals(z)
        jb = 0.5 * float(rb @ rb)
        try:
            jo = self.observation_term(self.misfits(self.parameters(z)))
        except DatarialError as exc:  # the worst cost, not a crash of the search
            return math.inf, jb, math.inf, str(exc)
        return jb + jo, jb, jo, None


def twin_observations(problem: Problem, truth: Parameters, times: Sequence[float], noise: float,
                      seed: int = 0, labels: bool = False) -> Observations:
    """'Observed' occupancy from a run with known parameters plus Gaussian noise (σ = ``noise``), clipped to [0, 1].

    ``labels``: observe the grains told apart as well (each voxel's grain, as
    a segmentation would give: the grain with the largest η above ½); each
    voxel's label is replaced, with probability ``noise``, by that of a random
    neighbour (segmentation errors, which fall on boundaries and surfaces).
    """
    rng = np.random.default_rng(seed)
    ghost = Problem(problem.packing, truth, [], Observations(np.asarray(times, float), np.zeros((len(times), 1))),
                    problem.sigma_r, problem.settings, problem.anisotropy, problem.pair_factors)
    clean, maps = [], []
    for st in ghost.states(truth):
        clean.append(_occupancy(st))
        if labels:
            maps.append(st.grain_map() + 1)
    clean = np.stack(clean)
    if not labels:
        return Observations(np.asarray(times, float), np.clip(clean + noise * rng.standard_normal(clean.shape), 0, 1))
    maps = np.stack(maps)
    periodic = problem.settings.boundary == "periodic"
    for k in range(len(maps)):  # label noise first: a seed gives the labels it gave before the occupancy was added
        flip = rng.random(maps[k].shape) < noise
        axis = rng.integers(0, maps[k].ndim, size=maps[k].shape)
        step = rng.choice([-1, 1], size=maps[k].shape)
        idx = np.indices(maps[k].shape)
        for a in range(maps[k].ndim):
            moved = idx[a] + np.where(axis == a, step, 0)
            idx[a] = moved % maps[k].shape[a] if periodic else np.clip(moved, 0, maps[k].shape[a] - 1)
        maps[k] = np.where(flip, maps[k][tuple(idx)], maps[k])
    occupancy = np.clip(clean + noise * rng.standard_normal(clean.shape), 0, 1)
    return Observations(np.asarray(times, float), occupancy, maps.astype(np.int64))


def evaluation_settings(solver: SolverSettings, base: Parameters, dt: float | str | None = None) -> SolverSettings:
    """The solver settings of the assimilation's evaluations: a fixed time step ``dt`` (reduced time; None: the
    solver's initial ``dt``), so that J is a smooth function of the parameters, or ``"adaptive"``: ``solver``
    as it is (J then jumps where the step control decides differently).

    With the grain fields by SBDF2 and no ``eta_step``, the sub-step is fixed too, at the one the ``base``
    parameters would take (0.25/(L B)): left to each evaluation it would follow an unknown L, and J would jump
    where the number of sub-steps per step changes.
    """
    if dt == "adaptive":
        return solver
    fixed = dataclasses.replace(solver, adaptive=False, dt=solver.dt if dt is None else float(dt))
    if fixed.method == "spectral" and fixed.eta_scheme == "sbdf2" and fixed.eta_step is None:
        fixed = dataclasses.replace(fixed, eta_step=sbdf2_sub_step(base))
    return fixed


def sub_step_note(settings: SolverSettings, base: Parameters, unknowns: Sequence[Unknown]) -> str | None:
    """A line for the user where the evaluations' SBDF2 sub-step (fixed from ``base``) is long for part of the
    search: an unknown L or B above the base value slows boundaries there by an O((h L B)²) error (2 % at
    h L B = 0.25, 9 % at 0.5); None where it is not."""
    if settings.method != "spectral" or settings.eta_scheme != "sbdf2" or settings.eta_step is None:
        return None
    top = base.replace(**{u.name: max(u.high, getattr(base, u.name)) for u in unknowns if u.name in ("L", "B")})
    needed = sbdf2_sub_step(top)  # the sub-step the top of the range would take
    if settings.eta_step <= needed * (1 + 1e-9):
        return None
    worst = top.L * top.B * settings.eta_step
    return (f"grain fields by SBDF2 in sub-steps h = {settings.eta_step:.3g} (from the configured L and B, the same "
            f"for every evaluation); at the top of the search range h L B = {worst:.2g}, where boundaries move "
            "slower (at 0.98 of their rate at h L B = 0.25, 0.91 at 0.5, 0.73 at 1, 0.42 at 4: "
            f"benchmarks/sinter_split.py); solver.eta_step {needed:.3g} keeps "
            "them within 2 % across the range")


def _objective(problem: Problem):
    def objective(trial) -> float:
        fail_orphaned_trials(trial.study)
        z = [trial.suggest_float(f"z{i}", *u.z_range) for i, u in enumerate(problem.unknowns)]
        j, jb, jo, failure = problem.evaluate(z)
        if failure:
            trial.set_user_attr("failure", failure)
        trial.set_user_attr("J_background", jb)
        trial.set_user_attr("J_observation", jo)
        for u, v in zip(problem.unknowns, z, strict=True):
            trial.set_user_attr(u.name, u.from_z(v))
        return j

    return objective


def open_study(storage: str | None, name: str, method: str, unknowns: Sequence[Unknown], seed: int,
               heartbeat: tuple[int, int] = (10, 30), options: dict[str, Any] | None = None,
               design_seed: int | None = None):
    """Create or load the study (``storage``: None = in memory, a path = SQLite file, or a database URL).

    ``options`` go to :func:`make_sampler` (``startup``, model settings for ``bo``).

    ``heartbeat`` = (interval, grace) in s: a trial whose worker stopped beating
    for ``grace`` seconds is marked failed by the next worker that starts a trial.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = None
    if storage:
        url = storage if "://" in storage else f"sqlite:///{Path(storage).resolve()}"
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 4–5, and what makes workers safe
            warnings.simplefilter("ignore")
            store = optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat[0], grace_period=heartbeat[1])
    sampler = make_sampler(method, unknowns, seed, design_seed=design_seed, **(options or {}))
    study = optuna.create_study(study_name=name, storage=store, sampler=sampler, direction="minimize",
                                load_if_exists=True)
    if store is not None:
        fail_orphaned_trials(study)
    return study


def fail_orphaned_trials(study) -> list[int]:
    """Fail running trials that never recorded a heartbeat and started more than the grace period ago.

    Optuna's heartbeat only fails trials whose last beat is stale; a worker
    killed between creating its trial and the first beat leaves a trial that
    stays RUNNING for ever.  Returns the numbers of the trials failed.
    """
    import optuna
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    store = getattr(study._storage, "_backend", study._storage)  # Optuna wraps RDB storage in a cache
    if not isinstance(store, optuna.storages.RDBStorage) or store.heartbeat_interval is None:
        return []
    grace = store.grace_period if store.grace_period is not None else 2 * store.heartbeat_interval
    now = datetime.now()  # Optuna stamps datetime_start with the worker's local clock, not the database's
    with store.engine.connect() as conn:
        trials = models.TrialModel.__table__
        beats = models.TrialHeartbeatModel.__table__
        rows = conn.execute(
            sa.select(trials.c.trial_id, trials.c.number, trials.c.datetime_start)
            .select_from(trials.outerjoin(beats, beats.c.trial_id == trials.c.trial_id))
            .where(trials.c.study_id == study._study_id, trials.c.state == "RUNNING",
                   beats.c.trial_id.is_(None))).all()
    failed = []
    for trial_id, number, started in rows:
        if started is not None and (now - started.replace(tzinfo=None)).total_seconds() > grace:
            try:
                study._storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            except RuntimeError:  # it finished (or was failed by another worker) meanwhile
                continue
            failed.append(int(number))
    return failed


def _worker(problem: Problem, storage: str, name: str, method: str, seed: int, trials: int,
            options: dict[str, Any] | None, design_seed: int) -> None:
    import optuna
    import torch

    torch.set_num_threads(1)
    study = open_study(storage, name, method, problem.unknowns, seed, options=options, design_seed=design_seed)
    study.optimize(_objective(problem), callbacks=[optuna.study.MaxTrialsCallback(
        trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL))])


@dataclass(frozen=True)
class AssimilationResult:
    """Best parameters, the cost history and the study (Optuna) behind them."""

    best: dict[str, float]
    best_cost: float
    history: np.ndarray  # J per completed trial, in trial order
    best_so_far: np.ndarray
    trials: int
    failed: int  # trials lost (worker killed, exception)
    method: str
    unfinished: int = 0  # evaluations whose simulation blew up or passed max_steps (J = inf)

    def table(self):
        import pandas as pd

        return pd.DataFrame({"trial": np.arange(1, len(self.history) + 1), "J": self.history,
                             "best J so far": self.best_so_far})


def assimilate(problem: Problem, method: str = "tpe", trials: int = 100, workers: int = 1,
               storage: str | None = None, study_name: str = "assimilation", seed: int = 0,
               progress: Callable[[int, int], None] | None = None,
               options: dict[str, Any] | None = None, polish_evaluations: int = 0, polish_starts: int = 1,
               polish_method: str = "auto") -> AssimilationResult:
    """Minimise J over the unknowns with ``trials`` evaluations; ``workers`` > 1 runs processes on ``storage``.

    ``options``: sampler options (:func:`make_sampler`), e.g. ``{"startup": 20, "beta": 4}``.
    ``polish_evaluations``: then refine the best trial (``polish_starts``: that many distinct ones) with at
    most that many more evaluations, by ``polish_method`` (:func:`~datarial.sinter.polish.polish`, in this
    process).
    """

    if trials < 1:
        raise DatarialError("trials must be at least 1")
    if workers > 1 and not storage:
        raise DatarialError("parallel workers share the study through a storage: give a file or database URL")
    # the sampler is built here, in this process: bad options fail before any worker starts
    study = open_study(storage, study_name, method, problem.unknowns, seed, options=options)
    if workers <= 1:
        cb = []
        if progress is not None:
            cb.append(lambda st, tr: progress(len(st.trials), trials))
        study.optimize(_objective(problem), n_trials=max(0, trials - len(study.trials)), callbacks=cb)
    else:
        ctx = multiprocessing.get_context("spawn")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        procs = [ctx.Process(target=_worker,  # worker w samples with seed + 1 + w, all share the design of `seed`
                             args=(problem, storage, study_name, method, seed + 1 + w, trials, options, seed))
                 for w in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        study = open_study(storage, study_name, method, problem.unknowns, seed, options=options)
    if polish_evaluations:
        done = len(study.trials)
        polish(problem, study, polish_evaluations, starts=polish_starts, method=polish_method,
               progress=None if progress is None else lambda k, n: progress(done + k, done + n))
    return result_of(study, problem.unknowns, method)


def result_of(study, unknowns: Sequence[Unknown], method: str) -> AssimilationResult:
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials)
    if not done:
        raise DatarialError("no trial finished: nothing to report")
    hist = np.array([t.value for t in sorted(done, key=lambda t: t.number)])
    best = min(done, key=lambda t: t.value)
    unfinished = sum("failure" in t.user_attrs for t in done)
    return AssimilationResult({u.name: u.from_z(best.params[f"z{i}"]) for i, u in enumerate(unknowns)},
                              float(best.value), hist, np.minimum.accumulate(hist), len(done), failed, method,
                              unfinished)


def parse_unknowns(data: Any, where: str) -> list[Unknown]:
    """``{name: {low, high, log, prior, prior_sd}}`` → unknowns, with errors naming the field."""
    if not isinstance(data, dict) or not data:
        raise DatarialError(f"{where}: a mapping of parameter names to {{low, high}} ranges")
    out = []
    for name, spec in data.items():
        if not isinstance(spec, dict) or "low" not in spec or "high" not in spec:
            raise DatarialError(f"{where}.{name}: give low and high (and optionally log, prior, prior_sd)")
        bad = set(spec) - {"low", "high", "log", "prior", "prior_sd"}
        if bad:
            raise DatarialError(f"{where}.{name}: unknown key(s) {', '.join(sorted(bad))}")
        try:
            out.append(Unknown(str(name), float(spec["low"]), float(spec["high"]), bool(spec.get("log", True)),
                               None if spec.get("prior") is None else float(spec["prior"]),
                               None if spec.get("prior_sd") is None else float(spec["prior_sd"])))
        except (TypeError, ValueError):
            raise DatarialError(f"{where}.{name}: low, high, prior and prior_sd must be numbers") from None
        except DatarialError as exc:
            raise DatarialError(f"{where}.{name}: {exc.message}") from None
    return out


@dataclass(frozen=True)
class AssimilationSettings:
    """The ``assimilate`` block of a run configuration, validated."""

    unknowns: tuple[Unknown, ...]
    sigma_r: float = 0.1
    method: str = "tpe"
    trials: int = 100
    workers: int = 1
    storage: str | None = None
    max_steps: int | None = None
    sampler: dict[str, Any] = field(default_factory=dict)  # make_sampler options: startup, ModelSettings fields (bo)
    observe: str = "occupancy"  # "labels": the grains told apart (Observations.labels); "both": the two misfits
    sigma_labels: float = 1.0  # σ_L of the label misfit
    polish: int = 0  # evaluations of the local refinement after the search (polish)
    polish_starts: int = 1  # distinct best trials it refines
    polish_method: str = "auto"  # least-squares (occupancy), nelder-mead, or auto
    dt: float | str | None = None  # fixed time step of every evaluation (None: solver.dt) or "adaptive"


def parse_settings(block: Any, where: str) -> AssimilationSettings:
    """``{unknowns, sigma_r, sigma_labels, method, trials, workers, storage, max_steps, sampler, observe, polish,
    polish_starts, polish_method, dt}`` → settings, errors naming the field."""
    keys = ("unknowns", "sigma_r", "sigma_labels", "method", "trials", "workers", "storage", "max_steps", "sampler",
            "observe", "polish", "polish_starts", "polish_method", "dt")
    if not isinstance(block, dict):
        raise DatarialError(f"{where}: a mapping ({', '.join(keys)})")
    if "unknowns" not in block:
        raise DatarialError(f"{where}: needs 'unknowns' (parameter: {{low, high}})")
    bad = set(block) - set(keys)
    if bad:
        raise DatarialError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
    method = str(block.get("method", "tpe"))
    if method not in METHODS:
        raise DatarialError(f"{where}.method: one of {', '.join(METHODS)}")
    try:
        sigma_r, sigma_labels = float(block.get("sigma_r", 0.1)), float(block.get("sigma_labels", 1.0))
        trials, workers = int(block.get("trials", 100)), int(block.get("workers", 1))
    except (TypeError, ValueError):
        raise DatarialError(f"{where}: sigma_r and sigma_labels are numbers, trials and workers whole numbers") from None
    if not (sigma_r > 0 and sigma_labels > 0) or trials < 1 or workers < 1:
        raise DatarialError(f"{where}: sigma_r and sigma_labels must be positive, trials and workers at least 1")
    storage = block.get("storage")
    max_steps = block.get("max_steps")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise DatarialError(f"{where}.max_steps: a whole number of time steps, at least 1, got {max_steps!r}")
    polish_n, starts = block.get("polish", 0), block.get("polish_starts", 1)
    if isinstance(polish_n, bool) or not isinstance(polish_n, int) or polish_n < 0:
        raise DatarialError(f"{where}.polish: a whole number of evaluations, 0 or more, got {polish_n!r}")
    if isinstance(starts, bool) or not isinstance(starts, int) or starts < 1:
        raise DatarialError(f"{where}.polish_starts: a whole number of start points, at least 1, got {starts!r}")
    polish_method = block.get("polish_method", "auto")
    if polish_method not in POLISH_METHODS:
        raise DatarialError(f"{where}.polish_method: one of {', '.join(POLISH_METHODS)}, got {polish_method!r}")
    dt = block.get("dt")
    if dt is not None and dt != "adaptive" and (isinstance(dt, bool) or not isinstance(dt, int | float) or not dt > 0):
        raise DatarialError(f"{where}.dt: a positive fixed time step (reduced time) or 'adaptive', got {dt!r}")
    unknowns = tuple(parse_unknowns(block["unknowns"], f"{where}.unknowns"))
    sampler = block.get("sampler") or {}
    if not isinstance(sampler, dict):
        raise DatarialError(f"{where}.sampler: a mapping such as {{startup: 20, beta: 4}}")
    try:
        make_sampler(method, unknowns, 0, **sampler)
    except DatarialError as exc:
        raise DatarialError(f"{where}.sampler: {exc.message}") from None
    observe = block.get("observe", "occupancy")
    if observe not in OBSERVE:
        raise DatarialError(f"{where}.observe: {', '.join(repr(o) for o in OBSERVE)}, got {observe!r}")
    try:
        local_method(polish_method, observe)
    except DatarialError as exc:
        raise DatarialError(f"{where}.polish_method: {exc.message.removeprefix('polish: ')}") from None
    return AssimilationSettings(unknowns, sigma_r, method, trials, workers, None if storage is None else str(storage),
                                max_steps, dict(sampler), observe, sigma_labels, polish_n, starts, polish_method,
                                dt if dt in (None, "adaptive") else float(dt))
