"""Objective against a microstructure descriptor: static (matplotlib) and interactive (plotly)."""

from __future__ import annotations

import numpy as np


def correlation_mpl(cor, objective_label: str):
    """Experiments (mean ± sd, labelled by id) and the straight-line fit, as a matplotlib Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(cor.x, cor.mean, yerr=cor.sd, fmt="o", capsize=3, label="experiments (mean ± sd)")
    t = np.linspace(cor.x.min(), cor.x.max(), 50)
    ax.plot(t, cor.intercept + cor.slope * t, "--", label=f"straight line, r = {cor.r:.2f}")
    for eid, xv, m in zip(cor.experiment_ids, cor.x, cor.mean, strict=True):
        ax.annotate(str(eid), (xv, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(cor.xlabel)
    ax.set_ylabel(objective_label)
    ax.legend(fontsize=8)
    return fig


def correlation_figure(cor, objective_label: str):
    """The same as :func:`correlation_mpl`, as a plotly Figure (hover shows the experiment id)."""
    import plotly.graph_objects as go

    t = np.linspace(cor.x.min(), cor.x.max(), 50)
    fig = go.Figure([
        go.Scatter(x=cor.x, y=cor.mean, mode="markers", name="experiments",
                   error_y={"type": "data", "array": cor.sd, "visible": True},
                   customdata=cor.experiment_ids, hovertemplate="experiment %{customdata}<br>x %{x:.4g}<br>%{y:.4g}"),
        go.Scatter(x=t, y=cor.intercept + cor.slope * t, mode="lines", line={"dash": "dash"},
                   name=f"straight line, r = {cor.r:.2f}"),
    ])
    fig.update_layout(xaxis_title=cor.xlabel, yaxis_title=objective_label, height=380,
                      margin={"l": 60, "r": 20, "t": 30, "b": 50}, legend={"x": 0.01, "y": 0.99})
    return fig
