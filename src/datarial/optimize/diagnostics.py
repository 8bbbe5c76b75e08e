"""Leave-one-out cross-validation of the surrogate: can the maps be trusted?

Each distinct measured condition is left out in turn (all its replicates
together) and predicted by the model trained on the rest, with the
hyperparameters of the full fit held fixed.  This is exact and costs one
Cholesky factorisation: for a held-out block G of the training covariance
K (kernel + noise),  C_G = [(K⁻¹)_GG]⁻¹  is the predictive covariance of the
block's observations and  μ_G = y_G − C_G (K⁻¹ r)_G  their predictive mean
(Rasmussen & Williams 2006, §5.4.2, in block form).  The prediction of the
replicate *mean* of a condition then has mean avg(μ_G) and variance 1ᵀC_G1/n².

Reported in the objective's units (for a log-transformed objective the mean
is 10**μ and the standard deviation is in decades), with R² and RMSE in model
space (log10 for log objectives) and the coverage of central predictive
intervals: a calibrated model has ~68 % of the measured means inside ±1σ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from datarial.errors import DatarialError
from datarial.optimize.surrogate import Surrogate, from_model_space

#: Nominal central-interval levels of the calibration curve.
LEVELS = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.683, 0.7, 0.8, 0.9, 0.954, 0.99])


@dataclass(frozen=True)
class LooDiagnostics:
    """Leave-one-condition-out predictions and calibration of a fitted surrogate.

    ``X`` holds the distinct conditions (model encoding); ``measured``/``predicted``
    are in the objective's units; ``model_measured``/``model_predicted`` on the scale
    R² is computed on (log10 for a log objective, else objective units); ``z`` are
    standardised residuals (measured − predicted) / σ.
    """

    X: np.ndarray
    n_replicates: np.ndarray
    measured: np.ndarray
    measured_sd: np.ndarray  # replicate standard deviation (NaN with one replicate), objective units
    predicted: np.ndarray
    predicted_std: np.ndarray  # model space: objective units, or decades for a log objective
    lower: np.ndarray  # ±1σ band, objective units
    upper: np.ndarray
    model_measured: np.ndarray
    model_predicted: np.ndarray
    z: np.ndarray
    r2: float
    rmse: float  # model space
    levels: np.ndarray  # nominal central-interval levels
    coverage: np.ndarray  # observed fraction of measured means inside each interval
    std_unit: str
    model_space: str  # what R²/RMSE are computed on

    @property
    def within_1sigma(self) -> float:
        return float(np.mean(np.abs(self.z) <= 1.0))

    @property
    def within_2sigma(self) -> float:
        return float(np.mean(np.abs(self.z) <= 2.0))

    @property
    def verdict(self) -> str:
        """A one-line reading of the numbers for researchers."""
        n = len(self.z)
        if n < 5:
            return f"only {n} conditions: too few for a reliable check"
        fit = ("good" if self.r2 >= 0.8 else "fair" if self.r2 >= 0.5 else "poor")
        w = self.within_1sigma
        cal = ("well calibrated" if 0.5 <= w <= 0.85 else
               "over-confident (errors larger than its σ)" if w < 0.5 else "under-confident (σ too wide)")
        return f"{fit} predictions (LOO R² {self.r2:.2f}); uncertainty {cal}: {100 * w:.0f} % within ±1σ (68 % expected)"

    def conditions(self, space) -> dict[str, np.ndarray]:
        """The conditions as value columns in the parameters' units."""
        return space.values_from_indices(space.indices_from_unit(self.X))

    def frame(self, space):
        """One row per condition: conditions in their units, measured vs predicted with units."""
        import pandas as pd

        cols = self.conditions(space)
        obj = space.objective
        unit = f" [{obj.unit}]" if obj.unit else ""
        df = pd.DataFrame({f"{p.name} [{p.unit}]" if p.unit else p.name: cols[p.name] for p in space.parameters})
        df["replicates"] = self.n_replicates
        df[f"measured mean{unit}"] = self.measured
        df[f"measured sd{unit}"] = self.measured_sd
        df[f"LOO predicted{unit}"] = self.predicted
        df[f"LOO predicted std [{self.std_unit}]" if self.std_unit else "LOO predicted std"] = self.predicted_std
        df[f"LOO lower 1σ{unit}"] = self.lower
        df[f"LOO upper 1σ{unit}"] = self.upper
        df["z (standardised residual)"] = self.z
        return df

    def summary(self) -> dict[str, float | str | int]:
        return {"conditions": int(len(self.z)), "r2": self.r2, "rmse": self.rmse,
                "rmse_space": self.model_space, "within_1sigma": self.within_1sigma,
                "within_2sigma": self.within_2sigma, "mean_z2": float(np.mean(self.z**2)),
                "verdict": self.verdict}


def loo_diagnostics(surrogate: Surrogate) -> LooDiagnostics:
    """Exact leave-one-condition-out predictions of ``surrogate``'s GP (fixed hyperparameters)."""
    model = surrogate.model
    tX = model.train_inputs[0]
    if tX.dim() != 2:
        raise DatarialError("diagnostics need a single-output model")
    rows = tX.detach().numpy()
    uniq, inverse = np.unique(np.round(rows, 12), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(uniq) < 3:
        raise DatarialError(f"leave-one-out needs at least 3 distinct measured conditions, have {len(uniq)}")
    model.eval()
    with torch.no_grad():
        K = model.covar_module(tX).to_dense()
        noise = model.likelihood.noise.reshape(-1)
        K = K + torch.diag(noise.expand(len(tX)))
        y = model.train_targets.reshape(-1)  # standardised model space
        mean_const = model.mean_module(tX).reshape(-1)
        L = torch.linalg.cholesky(K + 1e-10 * torch.eye(len(K), dtype=K.dtype))
        Kinv = torch.cholesky_inverse(L)
        alpha = Kinv @ (y - mean_const)
    Kinv, alpha, y = Kinv.numpy(), alpha.numpy(), y.numpy()
    tf = model.outcome_transform
    mu_y, sd_y = float(tf.means.reshape(-1)[0]), float(tf.stdvs.reshape(-1)[0])

    y_model = surrogate.train_y_model  # the same rows before the output warp (model space)
    m = len(uniq)
    pred_mean, pred_sd, obs_mean, om, osd, counts = (np.empty(m) for _ in range(6))
    for g in range(m):
        G = np.flatnonzero(inverse == g)
        C = np.linalg.inv(Kinv[np.ix_(G, G)])
        mu_G = y[G] - C @ alpha[G]
        n = len(G)
        pred_mean[g] = mu_G.mean()
        pred_sd[g] = np.sqrt(max(float(np.sum(C)) / n**2, 0.0))
        obs_mean[g] = y[G].mean()
        om[g] = y_model[G].mean()
        osd[g] = y_model[G].std(ddof=1) if n > 1 else np.nan
        counts[g] = n
    # GP space (standardised, warped) -> back through the warp to model space
    # (log10 and/or negated), then to objective units.  The z-scores stay in GP
    # space, where the predictive distribution is Gaussian.
    pm_gp, ps_gp = pred_mean * sd_y + mu_y, pred_sd * sd_y
    z = (obs_mean * sd_y + mu_y - pm_gp) / np.maximum(ps_gp, 1e-300)
    pred = surrogate.prediction_from_gp(pm_gp, ps_gp)
    pm, ps = pred.model_mean, pred.model_std
    # Replicates averaged by the model ("mean" mode) carry their spread in the
    # training noise, not as rows: the measured sd then is not known here.
    obj = surrogate.space.objective
    measured = from_model_space(om, obj)
    predicted = pred.mean
    a, b = pred.lower, pred.upper
    if obj.transform == "log":
        measured_sd = np.where(np.isfinite(osd), measured * np.log(10) * osd, np.nan)
    else:
        measured_sd = osd
    ss_res = float(np.sum((om - pm) ** 2))
    ss_tot = float(np.sum((om - om.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    half = norm.ppf(0.5 + LEVELS / 2)
    coverage = np.array([np.mean(np.abs(z) <= h) for h in half])
    std_unit = "decades" if obj.transform == "log" else obj.unit
    space_name = "log10 of the objective" if obj.transform == "log" else "objective units"
    return LooDiagnostics(surrogate.featurizer.decode(uniq), counts.astype(int), measured, measured_sd, predicted, ps,
                          np.minimum(a, b), np.maximum(a, b), om if obj.goal == "maximize" else -om,
                          pm if obj.goal == "maximize" else -pm, z if obj.goal == "maximize" else -z,
                          r2, float(np.sqrt(ss_res / m)), LEVELS.copy(), coverage, std_unit, space_name)
