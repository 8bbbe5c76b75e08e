"""Proposal validity, pending handling, reproducibility and model options of the engine."""

from __future__ import annotations

import numpy as np
import pytest

from datarial.demo import mgb2_jc
from datarial.errors import DatarialError, ProposalError
from datarial.optimize import ModelSettings, Observations, fit_surrogate, propose
from datarial.optimize.initial import corner_indices
from datarial.space import space_from_text

CONSTRAINED = """
name: c
objective: {name: Jc, unit: A/cm2, goal: maximize}
parameters:
  - {name: T_max, type: continuous, low: 550, high: 900, step: 10, unit: degC}
  - {name: t_hold, type: continuous, low: 0, high: 3000, step: 10, unit: min}
  - {name: MgB2_frac, type: categorical, values: [0, 10, 30], unit: "%"}
constraints: ["T_max + 0.1*t_hold <= 1000"]
"""

SIX_D = """
name: six
objective: {name: y, goal: maximize}
parameters:
""" + "".join(f"  - {{name: x{i}, type: continuous, low: 0, high: 1, step: 0.01}}\n" for i in range(1, 6)) + \
    "  - {name: x10, type: integer, low: 0, high: 40}\n" + "constraints: ['x1 + x10/40 <= 1.2']\n"


def observations(space, n: int, seed: int = 0, f=None) -> Observations:
    rng = np.random.default_rng(seed)
    idx = np.column_stack([rng.integers(0, k, n) for k in space.n_levels])
    idx = idx[space.feasible_indices(idx)]
    cols = space.values_from_indices(idx)
    if f is None:
        y = mgb2_jc(cols["T_max"], cols["t_hold"], cols["MgB2_frac"].astype(float), rng)
    else:
        y = f(cols, rng)
    return Observations({k: list(v) for k, v in cols.items()}, np.asarray(y, dtype=float))


def assert_valid(space, conditions, measured=None):
    keys = set()
    for c in conditions:
        assert space.check_point(c) == [], c  # on the grid, in range, feasible
        key = tuple(c[n] for n in space.names)
        assert key not in keys, "duplicate proposal"
        keys.add(key)
    if measured is not None:
        seen = {tuple(measured.columns[n][i] for n in space.names) for i in range(len(measured))}
        assert not keys & seen


@pytest.fixture(scope="module")
def cspace():
    return space_from_text(CONSTRAINED)


@pytest.mark.parametrize("acq", ["ei", "ucb", "pi", "qlognei"])
def test_batch_is_on_grid_feasible_distinct_and_new(cspace, acq):
    obs = observations(cspace, 25)
    prop = propose(cspace, obs, q=5, acquisition=acq, seed=3)
    assert prop.method == "model" and len(prop.conditions) == 5
    assert_valid(cspace, prop.conditions, obs)
    assert np.all(np.isfinite(prop.acquisition_values))


def test_six_dimensional_space_with_integer_and_constraint():
    space = space_from_text(SIX_D)
    obs = observations(space, 40, f=lambda c, r: -sum((np.asarray(c[f"x{i}"], float) - 0.3) ** 2 for i in range(1, 6)))
    prop = propose(space, obs, q=8, seed=0)
    assert_valid(space, prop.conditions, obs)
    assert all(isinstance(c["x10"], int) for c in prop.conditions)


def test_pending_points_are_not_proposed_again(cspace):
    obs = observations(cspace, 20)
    first = propose(cspace, obs, q=5, seed=1)
    pending = {n: [c[n] for c in first.conditions] for n in cspace.names}
    second = propose(cspace, obs, q=5, seed=1, pending=pending)
    k1 = {tuple(c.values()) for c in first.conditions}
    k2 = {tuple(c.values()) for c in second.conditions}
    assert not k1 & k2
    assert_valid(cspace, second.conditions, obs)


def test_pending_points_change_the_model_view(cspace):
    # With the believer fantasies the next pick moves away from the pending one.
    obs = observations(cspace, 20)
    first = propose(cspace, obs, q=1, seed=1)
    pend = {n: [first.conditions[0][n]] for n in cspace.names}
    nxt = propose(cspace, obs, q=1, seed=1, pending=pend)
    assert nxt.conditions[0] != first.conditions[0]


def test_remeasure_allows_measured_conditions():
    space = space_from_text("""
name: tiny
objective: {name: y}
parameters:
  - {name: a, type: integer, low: 0, high: 2}
  - {name: b, type: categorical, values: [p, q]}
""")
    cols = space.values_from_indices(np.array([[i, j] for i in range(3) for j in range(2)]))
    obs = Observations({k: list(v) for k, v in cols.items()}, np.array([1.0, 2, 3, 4, 9, 5]))
    with pytest.raises(ProposalError, match="only 0 feasible grid points"):
        propose(space, obs, q=1, seed=0)
    again = propose(space, obs, q=2, seed=0, remeasure=True)
    assert len(again.conditions) == 2


def test_seeded_proposals_are_reproducible(cspace):
    obs = observations(cspace, 20)
    a = propose(cspace, obs, q=5, seed=11, acquisition="qlognei")
    b = propose(cspace, obs, q=5, seed=11, acquisition="qlognei")
    assert a.conditions == b.conditions
    np.testing.assert_allclose(a.acquisition_values, b.acquisition_values)


def test_large_grid_search_is_reproducible_and_valid():
    space = space_from_text(SIX_D)
    obs = observations(space, 30, f=lambda c, r: np.asarray(c["x2"], float))
    a = propose(space, obs, q=5, seed=4)
    b = propose(space, obs, q=5, seed=4)
    assert a.conditions == b.conditions


def test_initial_design_without_data_uses_sobol(cspace):
    prop = propose(cspace, Observations.empty(cspace), q=5, seed=2)
    assert prop.method == "sobol"
    assert_valid(cspace, prop.conditions)
    assert propose(cspace, Observations.empty(cspace), q=5, seed=2).conditions == prop.conditions


def test_corner_design_gives_corners_and_centre(mgb2_space):
    settings = ModelSettings(initial_design="corners")
    prop = propose(mgb2_space, Observations.empty(mgb2_space), q=5, settings=settings, seed=0)
    pts = {(c["T_max"], c["t_hold"]) for c in prop.conditions}
    assert pts == {(550.0, 0.0), (550.0, 3000.0), (900.0, 0.0), (900.0, 3000.0), (730.0, 1500.0)}
    assert len(corner_indices(mgb2_space)) == 5


def test_infeasible_corners_are_replaced(cspace):
    prop = propose(cspace, Observations.empty(cspace), q=5, settings=ModelSettings(initial_design="corners"), seed=0)
    assert_valid(cspace, prop.conditions)


def test_model_is_used_once_enough_conditions_exist(cspace):
    obs = observations(cspace, 3)
    assert propose(cspace, obs, q=2, seed=0).method == "model"
    few = Observations({n: v[:2] for n, v in obs.columns.items()}, obs.values[:2])
    assert propose(cspace, few, q=2, seed=0).method == "sobol"


def test_batch_size_limits(cspace):
    obs = observations(cspace, 10)
    for q in (0, 21):
        with pytest.raises(ProposalError, match="from 1 to 20"):
            propose(cspace, obs, q=q)
    assert len(propose(cspace, obs, q=20, seed=0).conditions) == 20


def test_unknown_acquisition_is_refused(cspace):
    with pytest.raises(DatarialError, match="'foo' is not one of ei, ucb, pi, qlognei"):
        propose(cspace, observations(cspace, 10), acquisition="foo")


def test_ei_batch_explores_toward_the_optimum(mgb2_space):
    # After 40 random measurements the proposals should beat the median observation.
    obs = observations(mgb2_space, 40, seed=5)
    prop = propose(mgb2_space, obs, q=5, seed=0)
    truth = mgb2_jc(np.array([c["T_max"] for c in prop.conditions]), np.array([c["t_hold"] for c in prop.conditions]),
                    np.array([c["MgB2_frac"] for c in prop.conditions], dtype=float))
    assert truth.max() > np.quantile(obs.values, 0.9)


# -- surrogate -----------------------------------------------------------------------------
def one_d(objective: str = "{name: y}"):
    return space_from_text(f"name: d\nobjective: {objective}\nparameters:\n  - {{name: x, low: 0, high: 1, step: 0.01}}\n")


def test_replicates_inform_the_noise_level():
    space = one_d()
    x = np.repeat(np.linspace(0, 1, 8), 3)
    rng = np.random.default_rng(0)
    y = np.sin(6 * x) + rng.normal(0, 0.2, len(x))
    s = fit_surrogate(space, x[:, None], y)
    noise = float(s.model.likelihood.noise.item()) * float(s.model.outcome_transform.stdvs.item()) ** 2
    assert 0.01 < noise < 0.1  # true replicate variance 0.04
    assert len(s.X_conditions) == 8


def test_noiseless_option_interpolates_replicate_means():
    space = one_d()
    x = np.linspace(0, 1, 6)
    y = np.cos(3 * x)
    s = fit_surrogate(space, x[:, None], y, ModelSettings(noise="none"))
    pred = s.predict(x[:, None])
    np.testing.assert_allclose(pred.mean, y, atol=1e-3)
    assert pred.std.max() < 1e-2


def test_replicate_means_with_standard_error():
    space = one_d()
    x = np.repeat([0.1, 0.5, 0.9], 4)
    y = np.array([1, 1.2, 0.8, 1.0, 3, 3.4, 2.6, 3.0, 2, 2.2, 1.8, 2.0])
    s = fit_surrogate(space, x[:, None], y, ModelSettings(replicates="mean"))
    assert s.fixed_noise and len(s.X_conditions) == 3
    np.testing.assert_allclose(s.predict(np.array([[0.5]])).mean, [3.0], atol=0.3)


def test_minimised_objective_prefers_low_values():
    space = one_d("{name: loss, goal: minimize}")
    x = np.linspace(0, 1, 7)
    obs = Observations({"x": list(x)}, (x - 0.62) ** 2)
    prop = propose(space, obs, q=1, seed=0)
    assert abs(prop.conditions[0]["x"] - 0.62) < 0.12
    assert prop.predicted_mean[0] < 0.05


def test_log_transform_predicts_in_objective_units():
    space = one_d("{name: Jc, unit: A/cm2, transform: log}")
    x = np.linspace(0, 1, 8)
    y = 10 ** (3 + 2 * x)  # spans two decades
    s = fit_surrogate(space, x[:, None], y)
    pred = s.predict(np.array([[0.5]]))
    assert pred.mean[0] == pytest.approx(1e4, rel=0.1)
    assert pred.lower[0] < pred.mean[0] < pred.upper[0]
    with pytest.raises(DatarialError, match="log transform but has values ≤ 0"):
        fit_surrogate(space, x[:, None], y - 2000)


def test_predictions_and_acquisition_on_arbitrary_points(mgb2_space):
    from datarial.optimize import acquisition_map

    obs = observations(mgb2_space, 20)
    s = fit_surrogate(mgb2_space, mgb2_space.to_unit(obs.columns), obs.values)
    grid = np.column_stack([np.linspace(0, 1, 50), np.full(50, 0.3), np.zeros(50)])
    pred = s.predict(grid)
    assert pred.mean.shape == pred.std.shape == (50,)
    assert np.all(pred.std > 0)
    for acq in ("ei", "ucb", "pi", "qlognei"):
        vals = acquisition_map(s, grid, acq)
        assert vals.shape == (50,) and np.all(np.isfinite(vals))


def test_lengthscales_show_which_parameter_matters(mgb2_space):
    # Jc varies with T_max only: t_hold gets the longer lengthscale.
    x = np.random.default_rng(1).random((30, 2))
    cols = {"T_max": 550 + 350 * x[:, 0], "t_hold": 3000 * x[:, 1], "MgB2_frac": [0] * 30}
    s = fit_surrogate(mgb2_space, mgb2_space.to_unit(cols), np.sin(8 * x[:, 0]))
    ls = s.lengthscales()
    assert set(ls) == {"T_max", "t_hold"}
    assert ls["t_hold"] > 3 * ls["T_max"]
