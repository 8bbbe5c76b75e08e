"""Figures of the leave-one-out diagnostics: predicted vs measured, and calibration.

Left: each distinct condition's measured mean (± replicate sd) against its
leave-one-out prediction (± 1σ), with the identity line.  Right: observed
coverage of the central predictive intervals against their nominal level
(on the diagonal = calibrated; below = over-confident).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from datarial.optimize.diagnostics import LooDiagnostics


def _errors(d: LooDiagnostics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric ±1σ error bars of the predictions (log objectives are not symmetric)."""
    return d.predicted - d.lower, d.upper - d.predicted, np.nan_to_num(d.measured_sd, nan=0.0)


def _limits(d: LooDiagnostics) -> tuple[float, float]:
    lo = float(np.nanmin([d.measured.min(), d.lower.min()]))
    hi = float(np.nanmax([d.measured.max(), d.upper.max()]))
    pad = 0.05 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def diagnostics_figure(d: LooDiagnostics, objective_label: str, log: bool = False) -> go.Figure:
    """plotly: predicted vs measured (left) and calibration curve (right)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.12,
                        subplot_titles=(f"leave-one-out: R² {d.r2:.2f}", "calibration of the predicted σ"))
    lo_err, hi_err, xerr = _errors(d)
    text = [f"z = {z:+.2f}, {n} replicate(s)" for z, n in zip(d.z, d.n_replicates, strict=True)]
    fig.add_trace(go.Scatter(
        x=d.measured, y=d.predicted, mode="markers", name="conditions", text=text,
        marker={"color": np.abs(d.z), "colorscale": "RdYlGn_r", "cmin": 0, "cmax": 3, "size": 8,
                "colorbar": {"title": "|z|", "x": 0.55}},
        error_y={"type": "data", "symmetric": False, "array": hi_err, "arrayminus": lo_err, "thickness": 1},
        error_x={"type": "data", "array": xerr, "thickness": 1},
        hovertemplate="measured %{x:.4g}<br>predicted %{y:.4g}<br>%{text}<extra></extra>"), 1, 1)
    a, b = _limits(d)
    fig.add_trace(go.Scatter(x=[a, b], y=[a, b], mode="lines", name="measured = predicted",
                             line={"dash": "dash", "color": "grey"}), 1, 1)
    fig.add_trace(go.Scatter(x=100 * d.levels, y=100 * d.coverage, mode="lines+markers",
                             name="observed coverage"), 1, 2)
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="calibrated",
                             line={"dash": "dash", "color": "grey"}), 1, 2)
    axis_type = "log" if log else "linear"
    fig.update_xaxes(title_text=f"measured {objective_label}", type=axis_type, row=1, col=1)
    fig.update_yaxes(title_text=f"LOO predicted {objective_label} (±1σ)", type=axis_type, row=1, col=1)
    fig.update_xaxes(title_text="nominal central interval [%]", range=[0, 100], row=1, col=2)
    fig.update_yaxes(title_text="measured means inside [%]", range=[0, 100], row=1, col=2)
    fig.update_layout(height=460, margin={"t": 50, "l": 60, "r": 20, "b": 50}, legend={"orientation": "h", "y": -0.2})
    return fig


def diagnostics_mpl(d: LooDiagnostics, objective_label: str, log: bool = False):
    """matplotlib: the same two panels, for PNG/SVG files."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax, cal = fig.subplots(1, 2, width_ratios=[1.4, 1])
    lo_err, hi_err, xerr = _errors(d)
    ax.errorbar(d.measured, d.predicted, yerr=[lo_err, hi_err], xerr=xerr, fmt="o", ms=4, capsize=2,
                lw=0.8, color="tab:blue", label="conditions (±1σ predicted, ± replicate sd)")
    a, b = _limits(d)
    ax.plot([a, b], [a, b], "--", color="grey", label="measured = predicted")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(f"measured {objective_label}")
    ax.set_ylabel(f"LOO predicted {objective_label}")
    ax.set_title(f"leave-one-out: R² {d.r2:.2f} ({d.model_space}), {len(d.z)} conditions", fontsize=10)
    ax.legend(fontsize=8)
    cal.plot(100 * d.levels, 100 * d.coverage, "o-", label="observed")
    cal.plot([0, 100], [0, 100], "--", color="grey", label="calibrated")
    cal.set_xlim(0, 100)
    cal.set_ylim(0, 100)
    cal.set_xlabel("nominal central interval [%]")
    cal.set_ylabel("measured means inside [%]")
    cal.set_title(f"{100 * d.within_1sigma:.0f} % within ±1σ (68 % expected)", fontsize=10)
    cal.legend(fontsize=8)
    return fig
