"""Leave-one-out diagnostics: exact LOO, units, calibration, CLI, REST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from datarial.campaign import Campaign, ExperimentRecord, MeasurementRecord
from datarial.cli.main import main
from datarial.errors import DatarialError
from datarial.optimize import ModelSettings, fit_surrogate
from datarial.optimize.diagnostics import loo_diagnostics
from datarial.server.app import create_app
from datarial.space import SearchSpace, space_from_text


def _space(transform: str = "none", goal: str = "maximize") -> SearchSpace:
    return SearchSpace.from_dict({
        "name": "t", "objective": {"name": "y", "unit": "A/cm2", "goal": goal, "transform": transform},
        "parameters": [{"name": "a", "low": 0, "high": 1}, {"name": "b", "low": 0, "high": 1}]})


def _data(n=30, replicated=8, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 2))
    X = np.vstack([X, X[:replicated]])  # some conditions measured twice
    f = np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 2.0
    return X, f + rng.normal(0, noise, len(X))


def _brute_force_loo(sur, X, y_model_std):
    """LOO of one condition by conditioning the GP on the other rows (same hyperparameters)."""
    model = sur.model
    tX = model.train_inputs[0]
    K = model.covar_module(tX).to_dense().detach().numpy()
    noise = model.likelihood.noise.detach().numpy().reshape(-1)
    c = float(model.mean_module.constant.detach())
    y = model.train_targets.detach().numpy()
    out = []
    rows = tX.numpy()
    uniq = np.unique(np.round(rows, 12), axis=0)
    for u in uniq:
        G = np.all(np.isclose(rows, u), axis=1)
        R = ~G
        Kn = K + np.diag(np.broadcast_to(noise, len(K)))
        A = Kn[np.ix_(G, R)] @ np.linalg.inv(Kn[np.ix_(R, R)])
        mu = c + A @ (y[R] - c)
        C = Kn[np.ix_(G, G)] - A @ Kn[np.ix_(R, G)]
        out.append((mu.mean(), np.sqrt(C.sum()) / G.sum()))
    return np.array(out)


def test_block_loo_equals_refit_free_conditioning_on_the_other_conditions():
    X, y = _data()
    sur = fit_surrogate(_space(), X, y, ModelSettings())
    d = loo_diagnostics(sur)
    ref = _brute_force_loo(sur, X, y)
    sd = float(sur.model.outcome_transform.stdvs.reshape(-1)[0])
    mu = float(sur.model.outcome_transform.means.reshape(-1)[0])
    assert len(d.z) == 30  # conditions, not rows: replicates are left out together
    # GP space (after the output warp) back to model space, as predictions are.
    want = sur.prediction_from_gp(ref[:, 0] * sd + mu, ref[:, 1] * sd)
    assert not sur.warp.is_identity
    assert np.sort(d.model_predicted) == pytest.approx(np.sort(want.model_mean), rel=1e-6)
    assert np.sort(d.predicted_std) == pytest.approx(np.sort(want.model_std), rel=1e-6)
    assert set(d.n_replicates.tolist()) == {1, 2}


def test_a_good_model_scores_high_r2_and_is_roughly_calibrated():
    X, y = _data(n=60, noise=0.05)
    d = loo_diagnostics(fit_surrogate(_space(), X, y, ModelSettings()))
    assert d.r2 > 0.95
    assert 0.5 <= d.within_1sigma <= 0.9 and d.within_2sigma >= 0.85
    assert d.coverage[-1] >= d.coverage[0]  # coverage grows with the nominal level
    assert "good predictions" in d.verdict


def test_noise_only_data_gives_a_poor_r2():
    rng = np.random.default_rng(3)
    X = rng.random((25, 2))
    d = loo_diagnostics(fit_surrogate(_space(), X, rng.normal(5, 1, 25), ModelSettings()))
    assert d.r2 < 0.3 and "poor" in d.verdict


def test_log_objective_is_reported_in_its_units_with_sigma_in_decades():
    X, y = _data()
    d = loo_diagnostics(fit_surrogate(_space("log"), X, 10 ** y, ModelSettings()))
    assert d.std_unit == "decades" and d.model_space.startswith("log10")
    assert np.all(d.lower < d.predicted) and np.all(d.predicted < d.upper)
    assert d.measured == pytest.approx(10 ** d.model_measured)


def test_minimised_objective_keeps_its_sign():
    X, y = _data()
    d = loo_diagnostics(fit_surrogate(_space(goal="minimize"), X, y, ModelSettings()))
    assert np.all(d.measured > 1.0) and np.all(d.predicted > 0.5)
    assert d.r2 > 0.9


def test_too_few_conditions_are_refused():
    X = np.array([[0.1, 0.1], [0.5, 0.5]])
    with pytest.raises(DatarialError, match="at least 3 distinct"):
        loo_diagnostics(fit_surrogate(_space(), X, np.array([1.0, 2.0]), ModelSettings()))


SPACE = """
name: cat
objective: {name: Jc, unit: A/cm2, goal: maximize}
parameters:
  - {name: T, low: 500, high: 800, step: 10, unit: degC}
  - {name: additive, type: categorical, values: [none, SiC]}
"""


@pytest.fixture
def cat_campaign(sqlite_store) -> Campaign:
    camp = Campaign.create(sqlite_store, space_from_text(SPACE))
    recs = [ExperimentRecord({"T": T, "additive": a},
                             measurements=[MeasurementRecord(1e4 * np.exp(-((T - 650) / 90) ** 2) * (1.3 if a == "SiC" else 1))])
            for T in range(500, 810, 50) for a in ("none", "SiC")]
    camp.add_experiments(recs)
    return camp


def test_table_names_the_conditions_with_their_categories_and_units(cat_campaign):
    frame = cat_campaign.diagnose().frame(cat_campaign.space)
    assert sorted(zip(frame["T [degC]"], frame["additive"], strict=True)) == sorted(
        (float(T), a) for T in range(500, 810, 50) for a in ("none", "SiC"))
    assert {"measured mean [A/cm2]", "LOO predicted [A/cm2]", "LOO predicted std [A/cm2]"} <= set(frame.columns)


def test_cli_prints_the_check_and_writes_plot_and_table(cat_campaign, capsys, tmp_path: Path, monkeypatch):
    db = str(cat_campaign.store.url)
    monkeypatch.chdir(tmp_path)
    code = main(["diagnose", "cat", "--db", db, "--out", "loo.csv"])
    out = capsys.readouterr().out
    assert code == 0 and "R² (leave-one-out" in out and "within ±1σ" in out
    assert (tmp_path / "cat-diagnostics.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(tmp_path / "loo.csv")) == 14


def test_cli_refuses_a_wrong_plot_suffix_before_any_work(cat_campaign, capsys, tmp_path):
    code = main(["diagnose", "cat", "--db", str(cat_campaign.store.url), "--plot", str(tmp_path / "x.txt")])
    assert code == 2 and "--plot" in capsys.readouterr().err


def test_rest_diagnostics_json_csv_and_png(cat_campaign):
    client = TestClient(create_app(cat_campaign.store, ui=False))
    r = client.get("/api/v1/campaigns/cat/diagnostics")
    assert r.status_code == 200
    body = r.json()
    assert body["summary"]["conditions"] == 14 and 0 <= body["summary"]["within_1sigma"] <= 1
    assert len(body["calibration"]["nominal"]) == len(body["calibration"]["observed"])
    assert client.get("/api/v1/campaigns/cat/diagnostics?format=csv").text.startswith("T [degC],additive")
    png = client.get("/api/v1/campaigns/cat/diagnostics?format=png")
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"


def test_rest_diagnostics_of_a_campaign_without_enough_data_is_a_400(sqlite_store):
    camp = Campaign.create(sqlite_store, space_from_text(SPACE))
    camp.add_experiments([ExperimentRecord({"T": 500.0, "additive": "none"}, measurements=[MeasurementRecord(1.0)])])
    r = TestClient(create_app(sqlite_store, ui=False)).get("/api/v1/campaigns/cat/diagnostics")
    assert r.status_code == 400 and "at least 3 distinct" in r.json()["detail"]


def test_figures_build_for_linear_and_log_objectives():
    from datarial.viz.diagnostics import diagnostics_figure, diagnostics_mpl

    X, y = _data()
    for transform, vals in (("none", y), ("log", 10 ** y)):
        d = loo_diagnostics(fit_surrogate(_space(transform), X, vals, ModelSettings()))
        fig = diagnostics_figure(d, "y [A/cm2]", log=transform == "log")
        assert len(fig.data) == 4 and fig.layout.xaxis.type == ("log" if transform == "log" else "linear")
        assert len(diagnostics_mpl(d, "y [A/cm2]").axes) == 2
