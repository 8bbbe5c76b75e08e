"""The model panels of the campaign workbench: maps, history per round, unexplored regions, diagnostics.

A mixin of :class:`~datarial.server.ui.workbench.Workbench` (its state —
campaign, space, view settings — lives there).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from nicegui import run, ui

from datarial.campaign import Campaign
from datarial.campaign.records import column_label
from datarial.errors import DatarialError
from datarial.optimize.maps import best_conditions, history_frame
from datarial.server.ui.pages import call
from datarial.space import Objective, SearchSpace
from datarial.viz import maps as vmaps


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _export_buttons(export: Callable[[str], Any], csv_label: str, test_id: str) -> None:
    """PNG, SVG and CSV download buttons calling ``export(fmt)`` (``data-test`` = test_id-fmt)."""
    for fmt, label in (("png", "PNG"), ("svg", "SVG"), ("csv", csv_label)):
        # partial leaves no parameter, so NiceGUI calls it without the click event
        ui.button(label, on_click=partial(export, fmt)).props(f"flat data-test={test_id}-{fmt}")


class ModelPanels:
    """Maps, history, unexplored regions and diagnostics of a :class:`Workbench`."""

    camp: Campaign
    space: SearchSpace
    obj: Objective
    view: dict[str, Any]

    # ---------------------------------------------------------------- maps
    def maps_panel(self) -> None:
        with ui.row().classes("items-end"):
            ui.select(self.space.names, multiple=True, label="axes (1-3)", value=list(self.view["axes"]),
                      on_change=self._axes_changed).props("use-chips data-test=axes").classes("w-80")
            ui.select({"ei": "EI", "ucb": "UCB", "pi": "PI", "qlognei": "qLogNEI"}, label="acquisition") \
                .bind_value(self.view, "acquisition").classes("w-32")
            ui.number("resolution (points per axis)", min=2, max=400, step=1, format="%d") \
                .bind_value(self.view, "resolution").classes("w-48").tooltip("empty: 200 / 100 / 20 for 1D / 2D / 3D")
            ui.switch("3D surface (2D maps)").bind_value(self.view, "surface")
            ui.select({"mean": "mean", "std": "std", "acquisition": "acquisition"}, label="volume shows (3D)") \
                .bind_value(self.view, "volume").classes("w-36")
            if self.space.categorical_dims:
                ui.switch("one map per category").bind_value(self.view, "per_category") \
                    .tooltip("a map for each value of the first categorical parameter not on an axis")
        self.fixed_box = ui.row().classes("items-end w-full")
        with ui.row().classes("items-center"):
            ui.button("Update map", icon="map", on_click=self.update_map).props("color=primary data-test=update-map")
            self.map_progress = ui.spinner(size="lg")
            self.map_progress.visible = False
            ui.button("PNG", icon="image", on_click=lambda: self.export_map("png")).props("flat data-test=map-png")
            ui.button("SVG", icon="image", on_click=lambda: self.export_map("svg")).props("flat data-test=map-svg")
            ui.button("grid CSV", icon="table_view", on_click=lambda: self.export_map("csv")).props("flat data-test=map-csv")
        self.map_box = ui.column().classes("w-full")
        self._fixed_controls()

    def _axes_changed(self, e) -> None:
        axes = list(e.value or [])
        if len(axes) > 3:
            ui.notify("choose at most 3 axes", type="warning")
            axes = axes[:3]
            e.sender.value = axes
        self.view["axes"] = axes
        self._fixed_controls()

    def _fixed_controls(self) -> None:
        """Sliders/selects for every parameter not on an axis (default: the best measured condition)."""
        try:
            centre = best_conditions(self.space, self.camp.observations())
        except DatarialError:
            centre = {}
        self.fixed_box.clear()
        self.view["fixed"] = {}
        with self.fixed_box:
            for p in self.space.parameters:
                if p.name in self.view["axes"]:
                    continue
                v = centre.get(p.name, p.values[0] if p.kind == "categorical" else (p.low + p.high) / 2)
                self.view["fixed"][p.name] = v
                label = column_label(p.name, p.unit)
                if p.kind == "categorical":
                    ui.select(list(p.values), label=f"{label} (fixed)", value=v) \
                        .bind_value(self.view["fixed"], p.name).classes("w-40")
                else:
                    with ui.column().classes("w-64"):
                        ui.label().bind_text_from(self.view["fixed"], p.name, lambda x, lab=label: f"{lab} = {_fmt(x)}")
                        ui.slider(min=p.low, max=p.high, step=p.step or (p.high - p.low) / 100, value=v) \
                            .bind_value(self.view["fixed"], p.name)

    def _map_args(self) -> dict[str, Any]:
        return {"fixed": dict(self.view["fixed"]), "resolution": int(self.view["resolution"]) if self.view["resolution"] else None}

    async def update_map(self) -> None:
        axes = list(self.view["axes"])
        if not 1 <= len(axes) <= 3:
            ui.notify("choose 1 to 3 axes", type="warning")
            return
        self.map_progress.visible = True
        try:
            facets = self._facets(axes)
            maps = []
            for label, fixed in facets:
                args = self._map_args()
                args["fixed"].update(fixed)
                m = await call(self.camp.model_map, axes, acquisition=self.view["acquisition"], **args)
                if m is None:
                    return
                maps.append((label, m))
        finally:
            self.map_progress.visible = False
        self.last_map = maps[0][1]
        self.map_box.clear()
        with self.map_box:
            for label, m in maps:
                if label:
                    ui.label(label).classes("text-subtitle1")
                fig = vmaps.map_figure(m, surface=self.view["surface"], volume_quantity=self.view["volume"])
                fig.update_layout(height=520 if len(axes) >= 2 else 600)
                ui.plotly(fig).classes("w-full").props("data-test=map-plot")

    def _facets(self, axes: list[str]) -> list[tuple[str, dict[str, Any]]]:
        if not self.view["per_category"]:
            return [("", {})]
        for p in self.space.parameters:
            if p.kind == "categorical" and p.name not in axes:
                return [(f"{column_label(p.name, p.unit)} = {v}", {p.name: v}) for v in p.values]
        return [("", {})]

    async def export_map(self, fmt: str) -> None:
        m = getattr(self, "last_map", None)
        if m is None:
            ui.notify("draw a map first (Update map)", type="warning")
            return
        await self._download(fmt, f"{self.camp.name}-map-{'-'.join(m.axes)}", m.to_frame,
                             lambda: vmaps.map_figure_mpl(m))

    async def _download(self, fmt: str, stem: str, frame: Callable[[], pd.DataFrame],
                        figure: Callable[[], Any]) -> None:
        """Send the table as CSV, or the matplotlib figure as PNG/SVG (drawn off the event loop)."""
        if fmt == "csv":
            ui.download.content(frame().to_csv(index=False), f"{stem}.csv", "text/csv")
            return
        data = await run.io_bound(lambda: vmaps.figure_bytes(figure(), fmt))
        ui.download.content(data, f"{stem}.{fmt}")

    # ---------------------------------------------------------------- history
    def history_panel(self) -> None:
        ui.label("Best value so far per round, and the model's mean after each round on the axes and slice "
                 "chosen on the Maps tab.")
        with ui.row().classes("items-center"):
            ui.button("Show history", icon="history", on_click=self.show_history).props("color=primary data-test=show-history")
            self.hist_state = {"done": 0.0}
            self.hist_progress = ui.linear_progress(value=0, show_value=False).classes("w-64") \
                .bind_value_from(self.hist_state, "done")
            self.hist_progress.visible = False
            for fmt in ("png", "svg"):
                ui.button(f"best per round {fmt.upper()}", on_click=lambda f=fmt: self.export_history("best", f)).props("flat")
                ui.button(f"round maps {fmt.upper()}", on_click=lambda f=fmt: self.export_history("maps", f)).props("flat")
            ui.button("round maps CSV", on_click=lambda: self.export_history("maps", "csv")).props("flat")
        self.hist_box = ui.column().classes("w-full")

    async def show_history(self) -> None:
        axes = list(self.view["axes"])[:2] or self.space.names[:1]
        self.hist_progress.visible = True
        self.hist_state["done"] = 0.0

        def progress(done: int, total: int) -> None:  # called from the worker thread; the bar polls it
            self.hist_state["done"] = done / total

        res = self.view["resolution"] or (60 if len(axes) == 2 else 200)
        st = await call(self.camp.status)
        maps = await call(self.camp.history_maps, axes, fixed=dict(self.view["fixed"]), resolution=int(res),
                          progress=progress)
        self.hist_progress.visible = False
        if st is None or maps is None:
            return
        self.last_history = (st, maps)
        self.hist_box.clear()
        with self.hist_box:
            ui.plotly(vmaps.best_so_far_figure(st)).classes("w-full").props("data-test=best-plot")
            fig = vmaps.history_figure(maps)
            fig.update_layout(height=380)
            ui.plotly(fig).classes("w-full").props("data-test=history-plot")

    async def export_history(self, what: str, fmt: str) -> None:
        h = getattr(self, "last_history", None)
        if h is None:
            ui.notify("show the history first", type="warning")
            return
        st, maps = h
        if fmt == "csv":
            ui.download.content(history_frame(maps).to_csv(index=False), f"{self.camp.name}-history.csv", "text/csv")
            return
        fig = vmaps.best_so_far_mpl(st) if what == "best" else vmaps.history_figure_mpl(maps)
        data = await run.io_bound(vmaps.figure_bytes, fig, fmt)
        ui.download.content(data, f"{self.camp.name}-{'best-per-round' if what == 'best' else 'history'}.{fmt}")

    # ---------------------------------------------------------------- unexplored
    def unexplored_panel(self) -> None:
        ui.label("Where the model is most uncertain and no experiment lies nearby (on the Maps tab's axes and slice), "
                 "and suggested points over the whole space for experiments you plan yourself.")
        with ui.row().classes("items-center"):
            ui.button("Show unexplored regions", icon="travel_explore", on_click=self.show_unexplored) \
                .props("color=primary data-test=show-unexplored")
            self.unex_spinner = ui.spinner(size="lg")
            self.unex_spinner.visible = False
            _export_buttons(self.export_unexplored, "suggestions CSV", "unexplored")
        self.unex_box = ui.column().classes("w-full")

    async def show_unexplored(self) -> None:
        axes = list(self.view["axes"]) or self.space.names[:1]
        self.unex_spinner.visible = True
        try:
            u = await call(self.camp.unexplored, axes, **self._map_args())
        finally:
            self.unex_spinner.visible = False
        if u is None:
            return
        self.last_unexplored = u
        self.unex_box.clear()
        with self.unex_box:
            if len(axes) <= 2:
                ui.plotly(vmaps.unexplored_figure(u)).classes("w-full").props("data-test=unexplored-plot")
            frame = u.suggestions.copy()
            frame.insert(0, "#", np.arange(1, len(frame) + 1))
            ui.table.from_pandas(frame.round(4)).classes("w-full").props("data-test=suggestions")

    async def export_unexplored(self, fmt: str) -> None:
        u = getattr(self, "last_unexplored", None)
        if u is None:
            ui.notify("show the unexplored regions first", type="warning")
            return
        await self._download(fmt, f"{self.camp.name}-unexplored", lambda: u.suggestions,
                             lambda: vmaps.unexplored_mpl(u))

    # ---------------------------------------------------------------- diagnostics
    def diagnostics_panel(self) -> None:
        ui.label("Leave-one-out check: every measured condition predicted by the model fitted to the others. "
                 "Points near the diagonal and about 68 % of them inside ±1σ mean the maps can be trusted.")
        with ui.row().classes("items-center"):
            ui.button("Check the model", icon="fact_check", on_click=self.show_diagnostics) \
                .props("color=primary data-test=show-diagnostics")
            self.diag_descriptors = ui.select([], multiple=True, label="descriptors as extra model inputs") \
                .classes("w-80").props("use-chips data-test=diagnostics-descriptors")
            self.diag_spinner = ui.spinner(size="lg")
            self.diag_spinner.visible = False
            _export_buttons(self.export_diagnostics, "table CSV", "diagnostics")
        self.diag_box = ui.column().classes("w-full")

    async def show_diagnostics(self) -> None:
        from datarial.viz.diagnostics import diagnostics_figure

        names = list(self.diag_descriptors.value or [])
        self.diag_spinner.visible = True
        try:
            check = await call(self.camp.diagnose_descriptors, names) if names else None
            d = check.with_descriptors if check is not None else (None if names else await call(self.camp.diagnose))
        finally:
            self.diag_spinner.visible = False
        if d is None:
            return
        self.last_diagnostics = d
        self.last_diagnostics_space = check.space if check is not None else self.space
        self.diag_box.clear()
        with self.diag_box:
            if check is not None:
                b = check.process_only
                ui.label(f"with {', '.join(check.names)} as inputs: LOO R² {d.r2:.3f}; process parameters alone on the "
                         f"same {check.experiments} experiments: {b.r2:.3f}").classes("text-subtitle1") \
                    .props("data-test=diagnostics-descriptor-r2")
            ui.label(d.verdict).classes("text-subtitle1").props("data-test=diagnostics-verdict")
            ui.label(f"R² {d.r2:.3f} ({d.model_space}) · RMSE {d.rmse:.4g} · "
                     f"within ±1σ {100 * d.within_1sigma:.0f} % (68 % expected) · "
                     f"within ±2σ {100 * d.within_2sigma:.0f} % (95 % expected)")
            fig = diagnostics_figure(d, self.obj.label, log=self.obj.transform == "log")
            ui.plotly(fig).classes("w-full").props("data-test=diagnostics-plot")
            frame = d.frame(self.last_diagnostics_space).round(4)
            ui.table.from_pandas(frame).classes("w-full").props("data-test=diagnostics-table")

    async def export_diagnostics(self, fmt: str) -> None:
        d = getattr(self, "last_diagnostics", None)
        if d is None:
            ui.notify("check the model first", type="warning")
            return
        from datarial.viz.diagnostics import diagnostics_mpl

        space = self.last_diagnostics_space
        await self._download(fmt, f"{self.camp.name}-diagnostics", lambda: d.frame(space),
                             lambda: diagnostics_mpl(d, self.obj.label, log=self.obj.transform == "log"))
