"""Figures of model maps, history and unexplored regions.

plotly figures for the browser (``*_figure``) and matplotlib figures for
PNG/SVG files (``*_mpl``) are built from the same results
(:class:`~datarial.optimize.maps.ModelMap` and friends).  Every axis and colour
bar names its quantity and unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from datarial.campaign.records import column_label
from datarial.optimize.maps import ACQUISITION_LABELS, MapPoint, ModelMap, UnexploredRegion

QUANTITIES = ("mean", "std", "acquisition")
LOG_RANGE = 20.0  # shown span of log acquisitions (figures only; data and CSV keep every value)


def _axis_title(m: ModelMap, name: str) -> str:
    return column_label(name, m.space[name].unit)


def _quantity(m: ModelMap, q: str) -> tuple[np.ndarray, str]:
    obj = m.space.objective
    if q == "mean":
        return m.mean, f"mean {obj.label}"
    if q == "std":
        return m.std, m.std_label
    if m.acquisition is None:
        raise ValueError("this map has no acquisition")
    acq = m.acquisition
    if m.acquisition_name in ("ei", "pi", "qlognei") and np.isfinite(acq).any():
        # Log acquisitions plunge by thousands near measured points; show the
        # top LOG_RANGE (natural-log units) so the colour scale stays readable.
        top = float(np.nanmax(acq))
        acq = np.where(np.isfinite(acq), np.maximum(acq, top - LOG_RANGE), acq)
    return acq, ACQUISITION_LABELS[m.acquisition_name]


def _coords(m: ModelMap, k: int) -> list[Any]:
    """Axis values for plotting (categories as text)."""
    vals = m.axis_values[k]
    return [str(v) for v in vals] if m.space[m.axes[k]].kind == "categorical" else list(map(float, vals))


def _pt(p: MapPoint | dict, name: str, m: ModelMap) -> Any:
    c = p.conditions if isinstance(p, MapPoint) else p
    return str(c[name]) if m.space[name].kind == "categorical" else float(c[name])


def _fixed_text(m: ModelMap) -> str:
    if not m.fixed:
        return ""
    return "; ".join(f"{k} = {v:g} {m.space[k].unit}".rstrip() if isinstance(v, float | int)
                     else f"{k} = {v}" for k, v in m.fixed.items())


def _point_hover(m: ModelMap, p: MapPoint) -> str:
    cond = ", ".join(f"{k}={v}" for k, v in p.conditions.items())
    return f"{cond}<br>{m.space.objective.label}: {p.mean:.4g} (n={p.n})<br>distance to slice {p.distance:.2f}"


def _opacity(points: Sequence[MapPoint]) -> list[float]:
    return [float(1.0 - 0.7 * min(p.distance / 0.1, 1.0)) for p in points]


# ------------------------------------------------------------------------ plotly
def map_figure(m: ModelMap, *, surface: bool = False, volume_quantity: str = "mean") -> go.Figure:
    """The browser figure of a map: 1D band + acquisition, 2D heatmaps (or surfaces), 3D volume."""
    if len(m.axes) == 1:
        fig = _map1d(m)
    elif len(m.axes) == 2:
        fig = _map2d_surface(m) if surface else _map2d(m)
    else:
        fig = _map3d(m, volume_quantity)
    sub = _fixed_text(m)
    fig.update_layout(title={"text": f"{m.space.name}: model" + (f" at {sub}" if sub else ""), "font": {"size": 14},
                             "y": 0.98, "yanchor": "top"},
                      margin={"l": 60, "r": 20, "t": 90, "b": 50}, template="plotly_white")
    return fig


def _map1d(m: ModelMap) -> go.Figure:
    x = _coords(m, 0)
    obj = m.space.objective
    rows = 2 if m.acquisition is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.65, 0.35][:rows])
    fig.add_trace(go.Scatter(x=x + x[::-1], y=list(m.upper) + list(m.lower[::-1]), fill="toself",
                             fillcolor="rgba(31,119,180,0.2)", line={"width": 0}, name="±1 sd",
                             hoverinfo="skip"), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=m.mean, name="mean", line={"color": "#1f77b4"}), 1, 1)
    if m.points:
        fig.add_trace(go.Scatter(x=[_pt(p, m.axes[0], m) for p in m.points], y=[p.mean for p in m.points],
                                 mode="markers", name="data", marker={"color": "black", "opacity": _opacity(m.points)},
                                 hovertext=[_point_hover(m, p) for p in m.points], hoverinfo="text"), 1, 1)
    for k, p in enumerate(m.proposals):
        fig.add_vline(x=_pt(p, m.axes[0], m), line={"dash": "dash", "color": "#d62728"},
                      annotation_text="proposed" if k == 0 else None)
    fig.update_yaxes(title_text=obj.label, row=1, col=1)
    if rows == 2:
        fig.add_trace(go.Scatter(x=x, y=m.acquisition, name="acquisition", line={"color": "#2ca02c"}), 2, 1)
        fig.update_yaxes(title_text=ACQUISITION_LABELS[m.acquisition_name], row=2, col=1)
    fig.update_xaxes(title_text=_axis_title(m, m.axes[0]), row=rows, col=1)
    return fig


def _map2d(m: ModelMap) -> go.Figure:
    qs = [q for q in QUANTITIES if q != "acquisition" or m.acquisition is not None]
    titles = [_quantity(m, q)[1] for q in qs]
    fig = make_subplots(rows=1, cols=len(qs), subplot_titles=titles, horizontal_spacing=0.09)
    x, y = _coords(m, 0), _coords(m, 1)
    for k, q in enumerate(qs):
        z, label = _quantity(m, q)
        dom = fig.layout[f"xaxis{k + 1 if k else ''}"].domain
        fig.add_trace(go.Heatmap(x=x, y=y, z=np.asarray(z).T, colorscale="Viridis" if q != "std" else "Magma",
                                 colorbar={"x": dom[1] + 0.005, "len": 0.9, "thickness": 10},
                                 hovertemplate=f"{m.axes[0]}=%{{x}}<br>{m.axes[1]}=%{{y}}<br>{label}=%{{z:.4g}}<extra></extra>",
                                 name=label), 1, k + 1)
        if m.points:
            fig.add_trace(go.Scatter(x=[_pt(p, m.axes[0], m) for p in m.points],
                                     y=[_pt(p, m.axes[1], m) for p in m.points], mode="markers",
                                     marker={"color": "white", "line": {"color": "black", "width": 1},
                                             "opacity": _opacity(m.points), "size": 8},
                                     name="data", showlegend=k == 0, legendgroup="data",
                                     hovertext=[_point_hover(m, p) for p in m.points], hoverinfo="text"), 1, k + 1)
        if m.proposals:
            fig.add_trace(go.Scatter(x=[_pt(p, m.axes[0], m) for p in m.proposals],
                                     y=[_pt(p, m.axes[1], m) for p in m.proposals], mode="markers",
                                     marker={"symbol": "x", "color": "#d62728", "size": 10},
                                     name="proposed", showlegend=k == 0, legendgroup="prop"), 1, k + 1)
        fig.update_xaxes(title_text=_axis_title(m, m.axes[0]), row=1, col=k + 1)
        fig.update_yaxes(title_text=_axis_title(m, m.axes[1]) if k == 0 else None, row=1, col=1 + k)
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig


def _map2d_surface(m: ModelMap) -> go.Figure:
    qs = [q for q in QUANTITIES if q != "acquisition" or m.acquisition is not None]
    fig = make_subplots(rows=1, cols=len(qs), specs=[[{"type": "scene"}] * len(qs)],
                        subplot_titles=[_quantity(m, q)[1] for q in qs])
    x, y = _coords(m, 0), _coords(m, 1)
    for k, q in enumerate(qs):
        z, label = _quantity(m, q)
        fig.add_trace(go.Surface(x=x, y=y, z=np.asarray(z).T, showscale=False, name=label,
                                 colorscale="Viridis" if q != "std" else "Magma"), 1, k + 1)
        fig.layout[f"scene{k + 1 if k else ''}"].update(
            xaxis_title=_axis_title(m, m.axes[0]), yaxis_title=_axis_title(m, m.axes[1]), zaxis_title=label)
    return fig


def _map3d(m: ModelMap, quantity: str) -> go.Figure:
    z, label = _quantity(m, quantity)
    g = np.meshgrid(*[np.arange(len(v)) for v in m.axis_values], indexing="ij")
    coords = [np.asarray(m.axis_values[k], dtype=object)[g[k]].reshape(-1) for k in range(3)]
    numeric = [m.space[a].kind != "categorical" for a in m.axes]
    pos = [c.astype(float) if num else g[k].reshape(-1).astype(float) for k, (c, num) in enumerate(zip(coords, numeric, strict=True))]
    vals = np.asarray(z, dtype=float).reshape(-1)
    finite = vals[np.isfinite(vals)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    fig = go.Figure(go.Volume(x=pos[0], y=pos[1], z=pos[2], value=np.nan_to_num(vals, nan=lo), isomin=lo,
                              isomax=hi, opacity=0.15, surface_count=12, colorscale="Viridis",
                              colorbar={"title": {"text": label}}, name=label))
    if m.points:
        pts = [[(_pt(p, a, m) if num else m.space[a].category_index(p.conditions[a])) for a, num in zip(m.axes, numeric, strict=True)]
               for p in m.points]
        arr = np.array(pts, dtype=float)
        fig.add_trace(go.Scatter3d(x=arr[:, 0], y=arr[:, 1], z=arr[:, 2], mode="markers", name="data",
                                   marker={"color": "black", "size": 4},
                                   hovertext=[_point_hover(m, p) for p in m.points], hoverinfo="text"))
    if m.proposals:
        arr = np.array([[(float(p[a]) if num else m.space[a].category_index(p[a])) for a, num in zip(m.axes, numeric, strict=True)]
                        for p in m.proposals], dtype=float)
        fig.add_trace(go.Scatter3d(x=arr[:, 0], y=arr[:, 1], z=arr[:, 2], mode="markers", name="proposed",
                                   marker={"color": "#d62728", "size": 5, "symbol": "x"}))
    fig.update_layout(scene={"xaxis_title": _axis_title(m, m.axes[0]), "yaxis_title": _axis_title(m, m.axes[1]),
                             "zaxis_title": _axis_title(m, m.axes[2])})
    return fig


def history_figure(maps: Sequence[tuple[int, ModelMap | None]]) -> go.Figure:
    """The mean map after each round, side by side, on one colour scale."""
    done = [(r, m) for r, m in maps if m is not None]
    if not done:
        return go.Figure()
    m0 = done[0][1]
    obj = m0.space.objective
    cols = len(done)
    fig = make_subplots(rows=1, cols=cols, subplot_titles=[f"after round {r}" for r, _ in done],
                        shared_yaxes=True, horizontal_spacing=0.02 if cols > 3 else 0.05)
    if len(m0.axes) == 1:
        for k, (_, m) in enumerate(done):
            x = _coords(m, 0)
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(m.upper) + list(m.lower[::-1]), fill="toself",
                                     fillcolor="rgba(31,119,180,0.2)", line={"width": 0}, showlegend=False), 1, k + 1)
            fig.add_trace(go.Scatter(x=x, y=m.mean, line={"color": "#1f77b4"}, showlegend=False), 1, k + 1)
            if m.points:
                fig.add_trace(go.Scatter(x=[_pt(p, m.axes[0], m) for p in m.points], y=[p.mean for p in m.points],
                                         mode="markers", marker={"color": "black"}, showlegend=False), 1, k + 1)
            fig.update_xaxes(title_text=_axis_title(m, m.axes[0]), row=1, col=k + 1)
        fig.update_yaxes(title_text=obj.label, row=1, col=1)
    else:
        zmin = min(float(np.nanmin(m.mean)) for _, m in done)
        zmax = max(float(np.nanmax(m.mean)) for _, m in done)
        for k, (_, m) in enumerate(done):
            fig.add_trace(go.Heatmap(x=_coords(m, 0), y=_coords(m, 1), z=m.mean.T if m.mean.ndim == 2 else m.mean[:, :, m.mean.shape[2] // 2].T,
                                     zmin=zmin, zmax=zmax, colorscale="Viridis", showscale=k == cols - 1,
                                     colorbar={"title": {"text": f"mean {obj.label}"}}), 1, k + 1)
            if m.points:
                fig.add_trace(go.Scatter(x=[_pt(p, m.axes[0], m) for p in m.points],
                                         y=[_pt(p, m.axes[1], m) for p in m.points], mode="markers",
                                         marker={"color": "white", "line": {"color": "black", "width": 1}, "size": 6},
                                         showlegend=False), 1, k + 1)
            fig.update_xaxes(title_text=_axis_title(m, m.axes[0]), row=1, col=k + 1)
        fig.update_yaxes(title_text=_axis_title(m0, m0.axes[1]), row=1, col=1)
    fig.update_layout(title={"text": f"{m0.space.name}: the model after each round", "font": {"size": 14}},
                      template="plotly_white", margin={"l": 60, "r": 20, "t": 70, "b": 50})
    return fig


def best_so_far_figure(status) -> go.Figure:
    """Best measured value so far per round ("maximum value transitions") and each round's experiments."""
    obj = status.space.objective
    fig = go.Figure()
    rounds = [r.round for r in status.rounds if r.best_so_far is not None]
    fig.add_trace(go.Scatter(x=rounds, y=[r.best_so_far.mean for r in status.rounds if r.best_so_far is not None],
                             mode="lines+markers", name="best so far", line={"shape": "hv", "color": "#d62728"}))
    fig.add_trace(go.Scatter(x=[r.round for r in status.rounds if r.best_in_round is not None],
                             y=[r.best_in_round.mean for r in status.rounds if r.best_in_round is not None],
                             mode="markers", name="best of the round", marker={"color": "#1f77b4", "size": 9}))
    fig.update_layout(title={"text": f"{status.name}: best {obj.label} per round", "font": {"size": 14}},
                      xaxis_title="round", yaxis_title=obj.label, template="plotly_white",
                      xaxis={"dtick": 1}, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


def unexplored_figure(u: UnexploredRegion, distance_threshold: float = 0.15) -> go.Figure:
    """Relative uncertainty of the slice, the region far from any data outlined, and suggested points."""
    m = u.map
    if len(m.axes) == 1:
        x = _coords(m, 0)
        fig = go.Figure(go.Scatter(x=x, y=u.relative_std, name="relative std", fill="tozeroy"))
        far = np.where(u.distance >= distance_threshold, u.relative_std, np.nan)
        fig.add_trace(go.Scatter(x=x, y=far, name="far from data", line={"color": "#d62728", "width": 4}))
        fig.update_layout(xaxis_title=_axis_title(m, m.axes[0]), yaxis_title="std / largest std on the slice")
    else:
        rel = u.relative_std if u.relative_std.ndim == 2 else u.relative_std[:, :, u.relative_std.shape[2] // 2]
        dist = u.distance if u.distance.ndim == 2 else u.distance[:, :, u.distance.shape[2] // 2]
        x, y = _coords(m, 0), _coords(m, 1)
        fig = go.Figure(go.Heatmap(x=x, y=y, z=rel.T, colorscale="Magma", zmin=0, zmax=1,
                                   colorbar={"title": {"text": "std / max std"}}, name="relative std"))
        fig.add_trace(go.Contour(x=x, y=y, z=dist.T, contours={"start": distance_threshold, "end": distance_threshold,
                                                               "size": 1, "coloring": "none"},
                                 line={"color": "cyan", "width": 2, "dash": "dash"}, showscale=False,
                                 name=f"distance to data = {distance_threshold:g}", showlegend=True))
        if m.points:
            fig.add_trace(go.Scatter(x=[_pt(p, m.axes[0], m) for p in m.points], y=[_pt(p, m.axes[1], m) for p in m.points],
                                     mode="markers", name="data", marker={"color": "white", "line": {"color": "black", "width": 1}}))
        s = u.suggestions
        for name, v in m.fixed.items():  # only suggestions in the slice's categories can be drawn on it
            if m.space[name].kind == "categorical":
                s = s[s[column_label(name, m.space[name].unit)].astype(str) == str(v)]
        if len(s):
            cx, cy = column_label(m.axes[0], m.space[m.axes[0]].unit), column_label(m.axes[1], m.space[m.axes[1]].unit)
            fig.add_trace(go.Scatter(x=s[cx], y=s[cy], mode="markers+text", text=[str(i + 1) for i in s.index],
                                     textposition="top center", name="suggested (numbers as in the table)",
                                     marker={"symbol": "star", "color": "#2ca02c", "size": 12}))
        fig.update_layout(xaxis_title=_axis_title(m, m.axes[0]), yaxis_title=_axis_title(m, m.axes[1]),
                          legend={"orientation": "h", "y": -0.2})
    fig.update_layout(title={"text": f"{m.space.name}: unexplored regions (high uncertainty, no data nearby)",
                             "font": {"size": 14}}, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


# ------------------------------------------------------------------------ matplotlib (files)
def figure_bytes(fig, fmt: str) -> bytes:
    """A matplotlib figure as PNG or SVG bytes (150 dpi); the figure is closed."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _mpl_axis(ax, m: ModelMap, k: int, which: str) -> np.ndarray:
    vals = m.axis_values[k]
    if m.space[m.axes[k]].kind == "categorical":
        pos = np.arange(len(vals), dtype=float)
        getattr(ax, f"set_{which}ticks")(pos)
        getattr(ax, f"set_{which}ticklabels")([str(v) for v in vals])
        return pos
    return np.asarray(vals, dtype=float)


def _mpl_pos(m: ModelMap, name: str, value: Any) -> float:
    p = m.space[name]
    return float(p.category_index(value)) if p.kind == "categorical" else float(value)


def map_figure_mpl(m: ModelMap):
    """A static figure of a map (1D band + acquisition; 2D three heatmaps; 3D three slices per quantity)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs = [q for q in QUANTITIES if q != "acquisition" or m.acquisition is not None]
    if len(m.axes) == 1:
        fig, axs = plt.subplots(len(qs) - 1, 1, figsize=(7, 5.5), sharex=True, squeeze=False)
        ax = axs[0, 0]
        x = _mpl_axis(ax, m, 0, "x")
        ax.fill_between(x, m.lower, m.upper, alpha=0.25, label="±1 sd")
        ax.plot(x, m.mean, label="mean")
        if m.points:
            ax.scatter([_mpl_pos(m, m.axes[0], p.conditions[m.axes[0]]) for p in m.points], [p.mean for p in m.points],
                       c="k", s=18, label="data", zorder=3)
        for p in m.proposals:
            ax.axvline(_mpl_pos(m, m.axes[0], p[m.axes[0]]), color="tab:red", ls="--", lw=1)
        ax.set_ylabel(m.space.objective.label)
        ax.legend(fontsize=8)
        if m.acquisition is not None:
            ax2 = axs[1, 0]
            ax2.plot(x, m.acquisition, color="tab:green")
            ax2.set_ylabel(ACQUISITION_LABELS[m.acquisition_name], fontsize=8)
        axs[-1, 0].set_xlabel(_axis_title(m, m.axes[0]))
    elif len(m.axes) == 2:
        fig, axs = plt.subplots(1, len(qs), figsize=(5.2 * len(qs), 4.4), squeeze=False)
        for k, q in enumerate(qs):
            ax = axs[0, k]
            z, label = _quantity(m, q)
            x, y = _mpl_axis(ax, m, 0, "x"), _mpl_axis(ax, m, 1, "y")
            im = ax.pcolormesh(x, y, np.asarray(z, dtype=float).T, shading="nearest",
                               cmap="viridis" if q != "std" else "magma")
            fig.colorbar(im, ax=ax, label=label)
            _mpl_points(ax, m, 0, 1)
            ax.set_xlabel(_axis_title(m, m.axes[0]))
            ax.set_ylabel(_axis_title(m, m.axes[1]))
    else:
        n3 = len(m.axis_values[2])
        picks = sorted({0, n3 // 2, n3 - 1})
        fig, axs = plt.subplots(len(qs), len(picks), figsize=(4.6 * len(picks), 3.8 * len(qs)), squeeze=False)
        for r, q in enumerate(qs):
            z, label = _quantity(m, q)
            for c, k3 in enumerate(picks):
                ax = axs[r, c]
                x, y = _mpl_axis(ax, m, 0, "x"), _mpl_axis(ax, m, 1, "y")
                im = ax.pcolormesh(x, y, np.asarray(z, dtype=float)[:, :, k3].T, shading="nearest",
                                   cmap="viridis" if q != "std" else "magma")
                fig.colorbar(im, ax=ax, label=label)
                ax.set_title(f"{m.axes[2]} = {m.axis_values[2][k3]} {m.space[m.axes[2]].unit}".rstrip(), fontsize=9)
                ax.set_xlabel(_axis_title(m, m.axes[0]))
                ax.set_ylabel(_axis_title(m, m.axes[1]))
    sub = _fixed_text(m)
    fig.suptitle(f"{m.space.name}: model" + (f" at {sub}" if sub else ""), fontsize=10)
    fig.tight_layout()
    return fig


def _mpl_points(ax, m: ModelMap, i: int, j: int) -> None:
    if m.points:
        ax.scatter([_mpl_pos(m, m.axes[i], p.conditions[m.axes[i]]) for p in m.points],
                   [_mpl_pos(m, m.axes[j], p.conditions[m.axes[j]]) for p in m.points],
                   c="white", edgecolors="k", s=22, zorder=3)
    if m.proposals:
        ax.scatter([_mpl_pos(m, m.axes[i], p[m.axes[i]]) for p in m.proposals],
                   [_mpl_pos(m, m.axes[j], p[m.axes[j]]) for p in m.proposals], marker="x", c="tab:red", s=40, zorder=4)


def history_figure_mpl(maps: Sequence[tuple[int, ModelMap | None]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [(r, m) for r, m in maps if m is not None]
    cols = max(1, len(done))
    fig, axs = plt.subplots(1, cols, figsize=(3.6 * cols, 3.4), squeeze=False, sharey=True)
    if done and len(done[0][1].axes) >= 2:
        zmin = min(float(np.nanmin(m.mean)) for _, m in done)
        zmax = max(float(np.nanmax(m.mean)) for _, m in done)
    for k, (r, m) in enumerate(done):
        ax = axs[0, k]
        x = _mpl_axis(ax, m, 0, "x")
        if len(m.axes) == 1:
            ax.fill_between(x, m.lower, m.upper, alpha=0.25)
            ax.plot(x, m.mean)
            if m.points:
                ax.scatter([_mpl_pos(m, m.axes[0], p.conditions[m.axes[0]]) for p in m.points],
                           [p.mean for p in m.points], c="k", s=12)
        else:
            y = _mpl_axis(ax, m, 1, "y")
            z = m.mean if m.mean.ndim == 2 else m.mean[:, :, m.mean.shape[2] // 2]
            im = ax.pcolormesh(x, y, z.T, shading="nearest", vmin=zmin, vmax=zmax)
            _mpl_points(ax, m, 0, 1)
            if k == 0:
                ax.set_ylabel(_axis_title(m, m.axes[1]))
        ax.set_title(f"after round {r}", fontsize=9)
        ax.set_xlabel(_axis_title(m, m.axes[0]))
    if done and len(done[0][1].axes) >= 2:
        fig.colorbar(im, ax=axs[0, :].tolist(), label=f"mean {done[0][1].space.objective.label}")
    elif done:
        axs[0, 0].set_ylabel(done[0][1].space.objective.label)
    return fig


def best_so_far_mpl(status):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    rs = [r for r in status.rounds if r.best_so_far is not None]
    ax.step([r.round for r in rs], [r.best_so_far.mean for r in rs], where="post", color="tab:red", label="best so far")
    ax.plot([r.round for r in rs], [r.best_so_far.mean for r in rs], "o", color="tab:red")
    rb = [r for r in status.rounds if r.best_in_round is not None]
    ax.plot([r.round for r in rb], [r.best_in_round.mean for r in rb], "s", color="tab:blue", label="best of the round")
    ax.set_xlabel("round")
    ax.set_ylabel(status.space.objective.label)
    ax.set_title(f"{status.name}: best per round", fontsize=10)
    ax.legend()
    return fig


def unexplored_mpl(u: UnexploredRegion, distance_threshold: float = 0.15):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = u.map
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    x = _mpl_axis(ax, m, 0, "x")
    if len(m.axes) == 1:
        ax.fill_between(x, 0, u.relative_std, alpha=0.4, label="relative std")
        ax.plot(x, np.where(u.distance >= distance_threshold, u.relative_std, np.nan), color="tab:red", lw=3,
                label="far from data")
        ax.set_ylabel("std / largest std on the slice")
        ax.legend()
    else:
        y = _mpl_axis(ax, m, 1, "y")
        rel = u.relative_std if u.relative_std.ndim == 2 else u.relative_std[:, :, u.relative_std.shape[2] // 2]
        dist = u.distance if u.distance.ndim == 2 else u.distance[:, :, u.distance.shape[2] // 2]
        im = ax.pcolormesh(x, y, rel.T, shading="nearest", cmap="magma", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, label="std / largest std on the slice")
        if np.nanmax(dist) > distance_threshold > np.nanmin(dist):
            ax.contour(x, y, dist.T, levels=[distance_threshold], colors="cyan", linestyles="--")
        _mpl_points(ax, m, 0, 1)
        ax.set_ylabel(_axis_title(m, m.axes[1]))
    ax.set_xlabel(_axis_title(m, m.axes[0]))
    ax.set_title(f"{m.space.name}: unexplored regions", fontsize=10)
    return fig
