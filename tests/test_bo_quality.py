"""The optimizer-quality benchmark: metric computations and every adapter on a tiny case."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.bo_quality import report
from benchmarks.bo_quality.methods import METHODS
from benchmarks.bo_quality.metrics import (
    best_so_far,
    enhancement_factor,
    run_metrics,
    simple_regret,
    top_fraction,
)
from benchmarks.bo_quality.problems import (
    BoxProblem,
    PoolProblem,
    box_problems,
    branin,
    grid_minimum,
    load_olympus,
)
from benchmarks.bo_quality.run import run_one


def tiny_pool(n: int = 40, goal: str = "maximize") -> PoolProblem:
    g = np.linspace(0, 1, 8)
    X = np.array([(a, b) for a in g for b in g])[:n] * [100.0, 2.0] + [20.0, 0.0]
    y = -((X[:, 0] - 70) / 30) ** 2 - ((X[:, 1] - 1.2) / 0.8) ** 2
    return PoolProblem("tiny", ("T", "t"), X, y if goal == "maximize" else -y, goal,
                       X.min(0), X.max(0))


def tiny_box() -> BoxProblem:
    return BoxProblem("tiny_branin", ("x1", "x2"), np.array([-5.0, 0.0]), np.array([10.0, 15.0]),
                      np.array([0.5, 0.5]), branin, 1.0, "minimize",
                      grid_minimum(branin, [[np.pi, 2.275]], [-5, 0], [0.5, 0.5]))


# ---------------------------------------------------------------- metrics
def test_top_fraction_and_enhancement_factor_by_hand():
    top = np.array([3, 7, 9, 11])  # 4 top rows of a pool of N = 80
    rows = np.array([0, 3, 5, 7, 1, 2, 9, 4])
    assert top_fraction(rows, top, 2) == 0.25  # row 3 found among the first two
    assert top_fraction(rows, top, 8) == 0.75
    assert enhancement_factor(rows, top, 8, 80) == pytest.approx(0.75 / (8 / 80))  # 7.5× random


def test_top_set_orientation_follows_the_goal():
    up, down = tiny_pool(goal="maximize"), tiny_pool(goal="minimize")
    assert np.array_equal(up.top_set(), down.top_set())
    assert len(up.top_set()) == 2  # ceil(5 % of 40)
    assert up.y[up.top_set()[0]] == up.y.max() and down.y[down.top_set()[0]] == down.y.min()


def test_best_so_far_and_simple_regret():
    scores = np.array([1.0, 3.0, 2.0, 5.0])
    assert best_so_far(scores).tolist() == [1, 3, 3, 5]
    assert simple_regret(scores, 5.0).tolist() == [4, 2, 2, 0]


def test_run_metrics_of_a_minimised_pool_are_in_objective_units():
    p = tiny_pool(goal="minimize")
    order = np.argsort(p.y)  # the perfect run: best first
    run = {"rows": order[:10].tolist(), "true_values": p.y[order[:10]].tolist(), "ask_seconds": [0.1, 0.3]}
    m = run_metrics(run, p, checkpoints=(5, 10))
    assert m["top_5"] == 1.0 and m["ef_10"] == pytest.approx(1.0 / (10 / 40))
    assert m["final_regret"] == 0.0 and m["best_curve"][0] == p.y.min()
    assert m["median_ask_s"] == pytest.approx(0.2)


def test_synthetic_optima_are_grid_minima():
    boxes = box_problems()
    st2 = boxes["styblinski_tang2"]
    g = np.arange(-5, 5.01, 0.1)
    full = st2.f(np.array([(a, b) for a in g for b in g]))
    assert st2.optimum == pytest.approx(full.min())
    assert boxes["branin"].optimum == pytest.approx(0.3979, abs=0.01)
    assert boxes["hartmann6"].optimum == pytest.approx(-3.322, abs=0.01)
    assert boxes["mgb2"].optimum > 2.5e4


def test_olympus_pools_average_replicates():
    p = load_olympus("alkox")  # 208 rows: every condition measured twice
    assert len(p.y) == 104 and p.X.shape == (104, 4) and p.goal == "maximize"


# ---------------------------------------------------------------- adapters
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_adapter_proposes_distinct_unmeasured_pool_rows(method):
    p = tiny_pool()
    run = run_one(method, p, seed=1, budget=15)
    assert len(run["rows"]) == 15 and len(set(run["rows"])) == 15
    assert len(run["ask_seconds"]) == 2


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_adapter_proposes_grid_points_in_the_box(method):
    b = tiny_box()
    run = run_one(method, b, seed=2, budget=10)
    X = np.array(run["X"])
    assert X.shape == (10, 2)
    assert np.all(X >= b.low) and np.all(X <= b.high)
    assert np.allclose(X / 0.5, np.round(X / 0.5))  # on the 0.5 step grid
    assert run_metrics(run, b)["final_regret"] >= 0


def test_runs_share_their_seeded_start():
    a, b = run_one("random", tiny_pool(), seed=4, budget=10), run_one("datarial", tiny_pool(), seed=4, budget=10)
    assert a["rows"][:5] == b["rows"][:5]


def test_report_table_and_summary():
    p = tiny_pool()
    runs = []
    for m in ("datarial", "random"):
        for s in (0, 1):
            r = run_one(m, p, seed=s, budget=10)
            r["metrics"] = run_metrics(r, p, checkpoints=(10,))
            r["metrics"]["ef_50"] = r["metrics"]["ef_10"]  # the summary reads EF@50
            runs.append(r)
    s = report.summary(runs)
    assert set(s) == {"datarial", "random"} and s["datarial"]["datasets"] == 1
    text = report.markdown(runs, {"mode": "test", "pool_sizes": {"tiny": 40}})
    assert "| tiny | 40 | datarial |" in text and "median EF@50" in text
