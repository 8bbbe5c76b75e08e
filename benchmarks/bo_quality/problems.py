"""Benchmark problems: experimental pools (Olympus data sets) and stepped synthetic boxes.

Pool problems follow the materials-BO protocol: the candidates are a data
set's unique conditions (replicates averaged), and "measuring" a candidate
looks its value up.  Box problems are synthetic functions on a stepped grid
with measurement noise; methods propose anywhere in the box and their points
are snapped to the grid before evaluation.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: The Olympus experimental data sets used (all ten that ship in the ``olymp`` wheel).
OLYMPUS_DATASETS = ("alkox", "benzylation", "colors_bob", "colors_n9", "fullerenes", "hplc",
                    "photo_pce10", "photo_wf3", "snar", "suzuki")


@dataclass(frozen=True)
class PoolProblem:
    """A finite candidate pool with known values (raw units)."""

    name: str
    names: tuple[str, ...]
    X: np.ndarray  # (N, d) unique conditions
    y: np.ndarray  # (N,) replicate means
    goal: str  # "maximize" | "minimize"
    low: np.ndarray
    high: np.ndarray
    kind: str = "pool"
    source: str = ""

    @property
    def dim(self) -> int:
        return self.X.shape[1]

    def score(self, y: np.ndarray) -> np.ndarray:
        """Values oriented so that larger is better."""
        return np.asarray(y) if self.goal == "maximize" else -np.asarray(y)

    def top_set(self, fraction: float = 0.05) -> np.ndarray:
        """Row numbers of the pool's top ``fraction`` (at least one)."""
        k = max(1, math.ceil(fraction * len(self.y)))
        return np.argsort(-self.score(self.y), kind="stable")[:k]


@dataclass(frozen=True)
class BoxProblem:
    """A noisy function on a stepped box; values in ``f``'s units."""

    name: str
    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    step: np.ndarray
    f: Callable[[np.ndarray], np.ndarray] = field(repr=False)  # noise-free, (n, d) → (n,)
    noise_sd: float = 0.0  # absolute, or relative when ``relative_noise``
    goal: str = "minimize"
    optimum: float = float("nan")  # best noise-free value on the grid
    relative_noise: bool = False
    kind: str = "box"
    source: str = ""

    @property
    def dim(self) -> int:
        return len(self.low)

    def score(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y) if self.goal == "maximize" else -np.asarray(y)

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Nearest grid points of ``X`` (n, d), clipped into the box."""
        X = np.clip(np.atleast_2d(np.asarray(X, dtype=float)), self.low, self.high)
        n_steps = np.floor((self.high - self.low) / self.step + 1e-9)
        k = np.clip(np.rint((X - self.low) / self.step), 0, n_steps)
        return np.round(self.low + k * self.step, 10)

    def measure(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy measurements at grid points."""
        y = self.f(X)
        if self.noise_sd <= 0:
            return y
        if self.relative_noise:
            return y * rng.lognormal(0.0, self.noise_sd, size=y.shape)
        return y + rng.normal(0.0, self.noise_sd, size=y.shape)


# ----------------------------------------------------------------------------- pools
def olympus_dir() -> Path:
    spec = importlib.util.find_spec("olympus")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the Olympus data sets need the 'olymp' package: pip install -e .[bench]")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def load_olympus(name: str) -> PoolProblem:
    """One Olympus data set as a pool (files read directly; ``olympus`` itself is not imported)."""
    folder = olympus_dir() / f"dataset_{name}"
    config = json.loads((folder / "config.json").read_text())
    names = tuple(p["name"] for p in config["parameters"])
    data = pd.read_csv(folder / "data.csv", header=None)
    d = len(names)
    data = data.iloc[:, : d + 1]
    data.columns = [*names, "y"]
    pool = data.groupby(list(names), as_index=False)["y"].mean()
    X, y = pool[list(names)].to_numpy(float), pool["y"].to_numpy(float)
    low = np.array([p["low"] if p.get("low") is not None else X[:, j].min() for j, p in enumerate(config["parameters"])], float)
    high = np.array([p["high"] if p.get("high") is not None else X[:, j].max() for j, p in enumerate(config["parameters"])], float)
    low, high = np.minimum(low, X.min(0)), np.maximum(high, X.max(0))
    high = np.where(high > low, high, low + 1.0)
    return PoolProblem(name, names, X, y, config.get("default_goal", "maximize"), low, high,
                       source=f"olymp {folder.name}/data.csv ({len(data)} rows → {len(pool)} unique)")


# ----------------------------------------------------------------------------- boxes
def branin(X: np.ndarray) -> np.ndarray:
    x1, x2 = X[:, 0], X[:, 1]
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(X: np.ndarray) -> np.ndarray:
    inner = np.sum(_H6_A[None] * (X[:, None, :] - _H6_P[None]) ** 2, axis=-1)
    return -np.sum(_H6_ALPHA * np.exp(-inner), axis=-1)


def styblinski_tang(X: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(X**4 - 16 * X**2 + 5 * X, axis=-1)


def mgb2(X: np.ndarray) -> np.ndarray:
    from datarial.demo import mgb2_jc

    return mgb2_jc(X[:, 0], X[:, 1], X[:, 2])


def _box(name: str, names, low, high, step, f, goal, optimum, noise_frac=0.02, relative=False, source=""):
    low, high, step = (np.asarray(v, float) for v in (low, high, step))
    # Noise: a fraction of the function's spread over the box (or relative, log-normal).
    if relative:
        sd = noise_frac
    else:
        rng = np.random.default_rng(0)
        vals = f(low + rng.random((4096, len(low))) * (high - low))
        sd = noise_frac * float(np.std(vals))
    return BoxProblem(name, tuple(names), low, high, step, f, sd, goal, optimum, relative, source=source)


def grid_minimum(f, minimizers, low, step) -> float:
    """Smallest value of ``f`` over the grid corners around known continuous minimizers."""
    low, step = np.asarray(low, float), np.asarray(step, float)
    best = np.inf
    for x in np.atleast_2d(minimizers):
        k = np.floor((x - low) / step)
        corners = np.array(np.meshgrid(*[[0, 1]] * len(x), indexing="ij")).reshape(len(x), -1).T
        best = min(best, float(f(np.round(low + (k + corners) * step, 10)).min()))
    return best


def box_problems() -> dict[str, BoxProblem]:
    """The stepped synthetic problems: Branin, Hartmann-6, Styblinski–Tang (2D, 5D), MgB2.

    ``optimum`` is the best noise-free value on the grid (so simple regret ≥ 0).
    """
    h6_star = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    br_star = [[-np.pi, 12.275], [np.pi, 2.275], [9.42478, 2.475]]
    st_opt = lambda d: grid_minimum(styblinski_tang, np.full(d, -2.903534), [-5] * d, [0.1] * d)  # noqa: E731
    return {
        "branin": _box("branin", ["x1", "x2"], [-5, 0], [10, 15], [0.1, 0.1], branin, "minimize",
                       grid_minimum(branin, br_star, [-5, 0], [0.1, 0.1]),
                       source="Branin, step 0.1, noise 2 % of its spread"),
        "hartmann6": _box("hartmann6", [f"x{i}" for i in range(1, 7)], [0] * 6, [1] * 6, [0.01] * 6,
                          hartmann6, "minimize", grid_minimum(hartmann6, h6_star, [0] * 6, [0.01] * 6),
                          source="Hartmann-6, step 0.01, noise 2 % of its spread"),
        "styblinski_tang2": _box("styblinski_tang2", ["x1", "x2"], [-5, -5], [5, 5], [0.1, 0.1],
                                 styblinski_tang, "minimize", st_opt(2),
                                 source="Styblinski–Tang 2D (BOXVIA's sample), step 0.1, noise 2 %"),
        "styblinski_tang5": _box("styblinski_tang5", [f"x{i}" for i in range(1, 6)], [-5] * 5, [5] * 5,
                                 [0.1] * 5, styblinski_tang, "minimize", st_opt(5),
                                 source="Styblinski–Tang 5D, step 0.1, noise 2 %"),
        "mgb2": _box("mgb2", ["T_max", "t_hold", "mgb2_frac"], [550, 0, 0], [900, 3000, 30], [5, 10, 10],
                     mgb2, "maximize", _mgb2_optimum(), noise_frac=0.05, relative=True,
                     source="datarial's two-peak MgB2 Jc landscape, 5 % log-normal replicate noise"),
    }


def _mgb2_optimum() -> float:
    T, t, f = np.meshgrid(np.arange(550, 901, 5.0), np.arange(0, 3001, 10.0), [0.0, 10.0, 20.0, 30.0],
                          indexing="ij")
    return float(mgb2(np.stack([T.ravel(), t.ravel(), f.ravel()], 1)).max())


def load_problem(name: str) -> PoolProblem | BoxProblem:
    boxes = box_problems()
    if name in boxes:
        return boxes[name]
    if name in OLYMPUS_DATASETS:
        return load_olympus(name)
    raise SystemExit(f"unknown problem {name!r}; known: {', '.join([*OLYMPUS_DATASETS, *boxes])}")
