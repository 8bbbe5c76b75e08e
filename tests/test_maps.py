"""Model maps (1D/2D/3D slices), unexplored regions, history maps, and their figures."""

from __future__ import annotations

import numpy as np
import pytest

from datarial.campaign import Campaign, ExperimentRecord, MeasurementRecord
from datarial.errors import DatarialError
from datarial.optimize.maps import compute_map
from datarial.space import space_from_text
from datarial.viz import maps as vmaps

SPACE = """
name: sps
objective: {name: Jc, unit: A/cm2, goal: maximize}
parameters:
  - {name: T, low: 500, high: 800, step: 10, unit: degC}
  - {name: t, low: 0, high: 60, step: 5, unit: min}
  - {name: additive, type: categorical, values: [none, C, SiC]}
constraints: ["T + 2*t <= 900"]
"""


def jc(T: float, t: float, additive: str) -> float:
    return 1e4 * np.exp(-((T - 650) / 80) ** 2 - ((t - 20) / 25) ** 2) * (1.3 if additive == "SiC" else 1.0)


@pytest.fixture
def sps(sqlite_store) -> Campaign:
    camp = Campaign.create(sqlite_store, space_from_text(SPACE), settings={"noise": "none"})
    rng = np.random.default_rng(0)
    recs = []
    for _ in range(14):
        T, t = float(rng.choice(np.arange(500, 710, 10))), float(rng.choice(np.arange(0, 65, 5)))
        a = str(rng.choice(["none", "SiC"]))
        recs.append(ExperimentRecord({"T": T, "t": t, "additive": a}, measurements=[MeasurementRecord(jc(T, t, a))]))
    camp.add_experiments(recs)
    return camp


def test_noiseless_map_passes_through_the_data_on_its_slice(sps):
    m = sps.model_map(["T", "t"], fixed={"additive": "SiC"}, resolution=31, acquisition=None)
    assert m.shape == (31, 13)  # t has 13 levels (step 5), fewer than the resolution
    for p in m.points:
        i = int(np.argmin(np.abs(m.axis_values[0] - p.conditions["T"])))
        j = int(np.argmin(np.abs(m.axis_values[1] - p.conditions["t"])))
        assert m.mean[i, j] == pytest.approx(p.mean, rel=0.02)
        assert p.conditions["additive"] == "SiC" and p.distance == 0


def test_infeasible_points_have_no_acquisition(sps):
    m = sps.model_map(["T", "t"], fixed={"additive": "none"}, resolution=20)
    T, t = np.meshgrid(m.axis_values[0], m.axis_values[1], indexing="ij")
    assert np.array_equal(m.feasible, T + 2 * t <= 900 + 1e-9)
    assert np.isnan(m.acquisition[~m.feasible]).all() and np.isfinite(m.acquisition[m.feasible]).all()


def test_default_slice_is_the_best_measured_condition(sps):
    best = sps.status().best
    m = sps.model_map(["T"], acquisition=None)
    assert m.fixed == {"t": best.conditions["t"], "additive": best.conditions["additive"]}


def test_points_near_the_slice_are_within_the_tolerance(sps):
    m = sps.model_map(["T"], fixed={"t": 20, "additive": "none"}, acquisition=None)
    assert all(abs(p.conditions["t"] - 20) <= 6 and p.conditions["additive"] == "none" for p in m.points)
    assert all(0 <= p.distance <= 0.1 for p in m.points)


def test_categorical_axis_and_3d_maps(sps):
    m = sps.model_map(["T", "t", "additive"], resolution=6)
    assert m.shape == (6, 6, 3) and list(m.axis_values[2]) == ["none", "C", "SiC"]
    m2 = sps.model_map(["additive"], acquisition="ucb")
    assert m2.shape == (3,) and np.isfinite(m2.acquisition).all()


def test_pending_proposals_lower_the_acquisition_around_them(sps):
    before = sps.model_map(["T", "t"], fixed={"additive": "SiC"}, resolution=31, acquisition="ei")
    batch = sps.propose(1, "ei", seed=0)
    p = batch.proposals[0].conditions
    after = sps.model_map(["T", "t"], fixed={"additive": p["additive"]}, resolution=31, acquisition="ei")
    assert after.proposals and after.proposals[0] == p
    i = int(np.argmin(np.abs(after.axis_values[0] - p["T"])))
    j = int(np.argmin(np.abs(after.axis_values[1] - p["t"])))
    if p["additive"] == "SiC":
        assert after.acquisition[i, j] < before.acquisition[i, j]


def test_bad_map_arguments_are_refused(sps):
    with pytest.raises(DatarialError, match="1 to 3"):
        sps.model_map(["T", "t", "additive", "T"])
    with pytest.raises(DatarialError, match="fixed.additive"):
        sps.model_map(["T"], fixed={"additive": "B4C"})
    with pytest.raises(DatarialError, match="resolution"):
        compute_map(sps.space, sps.surrogate(), ["T"], resolution=1)


def test_csv_frame_has_one_row_per_grid_point_with_units(sps):
    frame = sps.model_map(["T", "t"], fixed={"additive": "C"}, resolution=5).to_frame()
    assert len(frame) == 5 * 5
    assert {"T [degC]", "t [min]", "additive", "mean Jc [A/cm2]", "std [A/cm2]", "feasible"} <= set(frame.columns)


def test_unexplored_regions_are_far_from_data(sps):
    u = sps.unexplored(["T", "t"], fixed={"additive": "C"}, resolution=15, n_suggestions=5)
    assert u.relative_std.max() == pytest.approx(1.0)
    assert len(u.suggestions) == 5
    assert (u.suggestions["distance to nearest data"] >= 0.15).all()
    unit = np.c_[(u.suggestions["T [degC]"] - 500) / 300, u.suggestions["t [min]"] / 60]
    gaps = np.linalg.norm(unit[:, None] - unit[None], axis=-1)[np.triu_indices(len(unit), 1)]
    assert gaps.min() >= 0.15  # spread apart, not five neighbours in other categories
    # No data with additive C at all: the whole slice is at least one category away.
    assert (u.distance >= 1.0).all()


def test_history_maps_refit_per_round(sps):
    batch = sps.propose(2, "ei", seed=1)
    sps.record_results([{"proposal_id": p.proposal_id, "value": 20000} for p in batch.proposals])
    calls = []
    maps = sps.history_maps(["T", "t"], resolution=10, progress=lambda d, n: calls.append((d, n)))
    assert [r for r, _ in maps] == [1, 2] and calls[-1] == (2, 2)
    assert len(maps[1][1].points) >= len(maps[0][1].points)
    assert not np.allclose(maps[0][1].mean, maps[1][1].mean)


@pytest.mark.parametrize("axes", [["T"], ["T", "t"], ["T", "t", "additive"]])
def test_figures_build_for_every_dimension(sps, axes):
    m = sps.model_map(axes, resolution=8)
    fig = vmaps.map_figure(m)
    kinds = {t.type for t in fig.data}
    assert kinds & {"scatter", "heatmap", "volume"}
    assert vmaps.map_figure_mpl(m).axes
    if len(axes) == 2:
        assert {t.type for t in vmaps.map_figure(m, surface=True).data} == {"surface"}
    u = sps.unexplored(axes[:2], resolution=8, n_suggestions=3)
    assert vmaps.unexplored_figure(u).data and vmaps.unexplored_mpl(u).axes


def test_history_figures(sps):
    maps = sps.history_maps(["T", "t"], resolution=8)
    assert sum(t.type == "heatmap" for t in vmaps.history_figure(maps).data) == 1
    assert vmaps.history_figure_mpl(maps).axes
    st = sps.status()
    assert vmaps.best_so_far_figure(st).data and vmaps.best_so_far_mpl(st).axes
