"""The campaign workbench: data, proposals, model maps, history, unexplored regions."""

from __future__ import annotations

import io
from typing import Any

from nicegui import background_tasks, run, ui

from datarial.campaign import Campaign
from datarial.campaign.attachments import MAX_ATTACHMENT_BYTES
from datarial.campaign.records import column_label, descriptor_label
from datarial.errors import DatarialError
from datarial.server.auth import Principal
from datarial.server.ui.model_panels import ModelPanels, _fmt
from datarial.server.ui.pages import UPLOAD_LIMIT, call

ACQUISITIONS = {"ei": "expected improvement (EI)", "ucb": "upper confidence bound (UCB)",
                "pi": "probability of improvement (PI)", "qlognei": "batch noisy EI (qLogNEI)"}


class Workbench(ModelPanels):
    """One campaign page for one browser."""

    def __init__(self, camp: Campaign, who: Principal) -> None:
        self.camp, self.who = camp, who
        self.space = camp.space
        self.obj = camp.space.objective
        self.can_write = who.allows("write")
        numeric = [p.name for p in self.space.parameters if p.is_numeric]
        self.view: dict[str, Any] = {
            "axes": (numeric or self.space.names)[:2] if self.space.dim >= 2 else self.space.names[:1],
            "fixed": {}, "acquisition": camp.settings.acquisition, "resolution": None, "surface": False, "per_category": False,
            "volume": "mean",
        }

    # ---------------------------------------------------------------- layout
    async def build(self) -> None:
        with ui.column().classes("w-full q-pa-md"):
            self.summary = ui.row().classes("items-center")
            with ui.tabs().classes("w-full") as tabs:
                t_data = ui.tab("Data").props("data-test=tab-data")
                t_prop = ui.tab("Propose").props("data-test=tab-propose")
                t_maps = ui.tab("Maps").props("data-test=tab-maps")
                t_hist = ui.tab("History").props("data-test=tab-history")
                t_unex = ui.tab("Unexplored regions").props("data-test=tab-unexplored")
                t_diag = ui.tab("Model check").props("data-test=tab-diagnostics")
            with ui.tab_panels(tabs, value=t_data).classes("w-full"):
                with ui.tab_panel(t_data):
                    self.data_panel()
                with ui.tab_panel(t_prop):
                    self.propose_panel()
                with ui.tab_panel(t_maps):
                    self.maps_panel()
                with ui.tab_panel(t_hist):
                    self.history_panel()
                with ui.tab_panel(t_unex):
                    self.unexplored_panel()
                with ui.tab_panel(t_diag):
                    self.diagnostics_panel()
        await self.reload()

    async def reload(self) -> None:
        """Re-read experiments, pending proposals and counts from the database."""
        exps, status, desc = await run.io_bound(
            lambda: (self.camp.experiments(), self.camp.status(), self.camp.descriptors_frame()))
        self.experiments = exps
        self.status = status
        self.summary.clear()
        with self.summary:
            ui.badge(f"{status.experiments} experiments").props("color=indigo")
            ui.badge(f"{status.measurements} measurements").props("color=indigo")
            ui.badge(f"{len(status.pending)} pending proposals").props("color=orange data-test=pending-count")
            if status.best is not None:
                cond = ", ".join(f"{k}={_fmt(v)}" for k, v in status.best.conditions.items())
                ui.label(f"best so far: {status.best.mean:.4g} {self.obj.unit} at {cond} (round {status.best.round})") \
                    .props("data-test=best")
        self._descriptor_columns(desc)
        names = sorted(set(desc["name"]))
        self.descriptor_row.visible = bool(names)
        self.descriptor_select.options = names
        self.descriptor_select.update()
        self.diag_descriptors.options = names
        self.diag_descriptors.update()
        values: dict[int, dict[str, str]] = {}
        for eid, name, value in zip(desc["experiment_id"], desc["name"], desc["value"], strict=True):
            values.setdefault(int(eid), {})[f"d_{name}"] = _fmt(float(value))
        self.table.rows = [{**self._row(e), **values.get(e.experiment_id, {})} for e in exps]
        self.table.update()
        self.render_pending(status.pending)
        if status.measurements:
            # Fit the model now, in the background, so the next map finds it cached.
            background_tasks.create(run.io_bound(self._prewarm), name=f"prefit {self.camp.name}")

    def _prewarm(self) -> None:
        try:
            self.camp.surrogate()
        except DatarialError:
            pass

    # ---------------------------------------------------------------- data
    def _descriptor_columns(self, desc) -> None:
        """One column per attached descriptor (``descriptor: NAME [unit]``), after the results."""
        units = dict(zip(desc["name"], desc["unit"], strict=True))
        wanted = [{"name": f"d_{n}", "label": descriptor_label(n, units[n]), "field": f"d_{n}", "sortable": True}
                  for n in sorted(units)]
        base = [c for c in self.table.columns if not c["name"].startswith("d_")]
        at = next(i for i, c in enumerate(base) if c["name"] == "flags")
        columns = base[:at] + wanted + base[at:]
        if columns != self.table.columns:
            self.table.columns = columns

    def _row(self, e) -> dict[str, Any]:
        row = {"id": e.experiment_id, "round": e.round, "source": e.source, "n": e.n,
               "result": "awaiting data" if e.n == 0 else (f"{e.mean:.4g} ± {e.sd:.2g}" if e.sd is not None else f"{e.mean:.4g}"),
               "flags": ", ".join(e.flags), "by": e.created_by,
               "when": e.created_at.strftime("%Y-%m-%d %H:%M") if e.created_at else ""}
        for k, v in e.conditions.items():
            row[f"p_{k}"] = _fmt(v)
        return row

    def data_panel(self) -> None:
        cols = [{"name": "id", "label": "id", "field": "id", "sortable": True},
                {"name": "round", "label": "round", "field": "round", "sortable": True},
                {"name": "source", "label": "source", "field": "source", "sortable": True}]
        cols += [{"name": f"p_{p.name}", "label": column_label(p.name, p.unit), "field": f"p_{p.name}", "sortable": True}
                 for p in self.space.parameters]
        cols += [{"name": "result", "label": f"{self.obj.label} mean ± sd", "field": "result"},
                 {"name": "n", "label": "replicates", "field": "n"},
                 {"name": "flags", "label": "flags", "field": "flags"},
                 {"name": "by", "label": "by", "field": "by"}, {"name": "when", "label": "when (UTC)", "field": "when"}]
        if self.can_write:
            with ui.row().classes("items-center"):
                ui.button("add experiment", icon="add", on_click=self.add_experiment_dialog).props("data-test=add-experiment")
                ui.upload(on_upload=self.on_import, auto_upload=True, max_file_size=UPLOAD_LIMIT,
                          label="import researcher table (CSV/Excel)").props("accept=.csv,.xlsx,.txt data-test=upload-data")
                ui.upload(on_upload=self.on_record, auto_upload=True, max_file_size=UPLOAD_LIMIT,
                          label="record filled-in proposals file").props("accept=.csv,.xlsx,.txt data-test=upload-record")
        with ui.row().classes("items-center"):
            ui.button("download CSV", icon="download", on_click=lambda: self.download_table("csv")).props("flat")
            ui.button("download Excel", icon="download", on_click=lambda: self.download_table("xlsx")).props("flat")
            if self.can_write:
                ui.label("selected experiment:").classes("q-ml-lg")
                ui.button("add replicates", on_click=self.add_replicates_dialog).props("flat data-test=add-replicates")
                ui.button("edit", on_click=self.edit_dialog).props("flat data-test=edit")
                ui.button("delete", on_click=self.delete_dialog).props("flat color=negative data-test=delete")
                ui.button("attach raw file", on_click=self.attach_dialog).props("flat data-test=attach")
            ui.button("details & history", on_click=self.details_dialog).props("flat")
        self.table = ui.table(columns=cols, rows=[], row_key="id", selection="single",
                              pagination={"rowsPerPage": 25, "sortBy": "id"}).classes("w-full").props("data-test=experiments")
        with ui.row().classes("items-center") as self.descriptor_row:
            ui.label(f"{self.obj.label} against a descriptor:")
            self.descriptor_select = ui.select([], label="descriptor").classes("w-72").props("data-test=descriptor")
            self.descriptor_inverse = ui.checkbox("1 / value").props("data-test=descriptor-inverse")
            ui.button("plot", icon="scatter_plot", on_click=self.show_correlation).props("flat data-test=plot-descriptor")
        self.descriptor_row.visible = False
        self.correlation_box = ui.column().classes("w-full")

    def _selected(self) -> int | None:
        if not self.table.selected:
            ui.notify("select an experiment in the table first", type="warning")
            return None
        return int(self.table.selected[0]["id"])

    async def on_import(self, e) -> None:
        data = await e.file.read()
        rep = await call(self.camp.import_file, e.file.name, by=self.who.name, data=data, name=e.file.name)
        if rep is not None:
            ui.notify(f"imported {rep.experiments} experiments ({rep.measurements} measurements) from {e.file.name}"
                      + (f"; {rep.flagged} flagged" if rep.flagged else ""), type="positive")
            await self.reload()
        e.sender.reset()

    async def on_record(self, e) -> None:
        data = await e.file.read()
        rep = await call(self.camp.record_file, e.file.name, by=self.who.name, data=data, name=e.file.name)
        if rep is not None:
            ui.notify(f"recorded {rep.experiments} experiments ({rep.measurements} measurements) from {e.file.name}",
                      type="positive")
            await self.reload()
        e.sender.reset()

    async def download_table(self, fmt: str) -> None:
        frame = await run.io_bound(self.camp.experiments_frame)
        if fmt == "csv":
            ui.download.content(frame.to_csv(index=False), f"{self.camp.name}.csv", "text/csv")
        else:
            buf = io.BytesIO()
            frame.to_excel(buf, index=False)
            ui.download.content(buf.getvalue(), f"{self.camp.name}.xlsx")

    async def show_correlation(self) -> None:
        from datarial.viz.descriptors import correlation_figure

        name = self.descriptor_select.value
        if not name:
            ui.notify("choose a descriptor first", type="warning")
            return
        cor = await call(self.camp.correlate_descriptor, name, bool(self.descriptor_inverse.value))
        if cor is None:
            return
        self.correlation_box.clear()
        with self.correlation_box:
            ui.label(f"Pearson r = {cor.r:.3f} over {len(cor.x)} experiments; straight line "
                     f"{self.obj.name} = {cor.intercept:.4g} + {cor.slope:.4g} × x").props("data-test=correlation-r")
            ui.plotly(correlation_figure(cor, self.obj.label)).classes("w-full").props("data-test=correlation-plot")

    def _condition_inputs(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        inputs = {}
        for i, p in enumerate(self.space.parameters):
            label = column_label(p.name, p.unit)
            v = (values or {}).get(p.name)
            if p.kind == "categorical":
                inputs[p.name] = ui.select(list(p.values), label=label, value=v if v is not None else p.values[0]) \
                    .props(f"data-test=cond-{i}").classes("w-48")
            else:
                inputs[p.name] = ui.number(label, value=v, min=p.low, max=p.high, step=p.step or None) \
                    .props(f"data-test=cond-{i}").classes("w-48")
        return inputs

    @staticmethod
    def _values(text: str) -> list[float] | None:
        try:
            vals = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
        except ValueError:
            ui.notify(f"'{text}': give numbers separated by commas", type="negative")
            return None
        return vals

    async def add_experiment_dialog(self) -> None:
        with ui.dialog() as dlg, ui.card():
            ui.label("New researcher experiment").classes("text-h6")
            inputs = self._condition_inputs()
            values = ui.input(f"{self.obj.label}, replicates separated by commas").props("data-test=new-values").classes("w-full")
            note = ui.input("note").classes("w-full")
            with ui.row():
                ui.button("save", on_click=lambda: dlg.submit(True)).props("data-test=save-experiment")
                ui.button("cancel", on_click=lambda: dlg.submit(False)).props("flat")
        if not await dlg:
            return
        vals = self._values(values.value or "")
        if vals is None:
            return
        item: dict[str, Any] = {"conditions": {k: w.value for k, w in inputs.items()}, "note": note.value or ""}
        if vals:
            item["values"] = vals
        rep = await call(self.camp.record_results, [item], by=self.who.name, where="new experiment")
        if rep is not None:
            ui.notify(f"stored experiment {rep.experiment_ids[0]}", type="positive")
            await self.reload()

    async def add_replicates_dialog(self) -> None:
        eid = self._selected()
        if eid is None:
            return
        with ui.dialog() as dlg, ui.card():
            ui.label(f"Replicates of experiment {eid}").classes("text-h6")
            values = ui.input(f"{self.obj.label}, separated by commas").classes("w-full")
            with ui.row():
                ui.button("save", on_click=lambda: dlg.submit(True))
                ui.button("cancel", on_click=lambda: dlg.submit(False)).props("flat")
        if not await dlg:
            return
        vals = self._values(values.value or "")
        if not vals:
            return
        rep = await call(self.camp.record_results, [{"experiment_id": eid, "values": vals}], by=self.who.name)
        if rep is not None:
            await self.reload()

    async def edit_dialog(self) -> None:
        eid = self._selected()
        if eid is None:
            return
        detail = await call(self.camp.experiment, eid)
        if detail is None:
            return
        with ui.dialog() as dlg, ui.card().classes("w-[40rem]"):
            ui.label(f"Edit experiment {eid}").classes("text-h6")
            inputs = self._condition_inputs(detail.conditions)
            note = ui.input("note", value=detail.note).classes("w-full")
            ui.label("replicates").classes("text-subtitle2")
            meas = {}
            for m in detail.measurements:
                meas[m.measurement_id] = ui.number(f"#{m.measurement_id} [{m.unit}]", value=m.value) \
                    .props("readonly" if m.derived else "").classes("w-48")
            reason = ui.input("reason for the change (kept in the history)").classes("w-full")
            with ui.row():
                ui.button("save", on_click=lambda: dlg.submit(True)).props("data-test=save-edit")
                ui.button("cancel", on_click=lambda: dlg.submit(False)).props("flat")
        if not await dlg:
            return
        new_cond = {k: w.value for k, w in inputs.items() if w.value != detail.conditions[k]}
        if new_cond or (note.value or "") != detail.note:
            if await call(self.camp.edit_experiment, eid, conditions=new_cond or None,
                          note=note.value if (note.value or "") != detail.note else None,
                          by=self.who.name, reason=reason.value or "") is None:
                return
        for m in detail.measurements:
            new = meas[m.measurement_id].value
            if not m.derived and new is not None and float(new) != m.value:
                if await call(self.camp.edit_measurement, m.measurement_id, value=float(new), by=self.who.name,
                              reason=reason.value or "") is None:
                    return
        ui.notify(f"experiment {eid} saved", type="positive")
        await self.reload()

    async def delete_dialog(self) -> None:
        eid = self._selected()
        if eid is None:
            return
        with ui.dialog() as dlg, ui.card():
            ui.label(f"Delete experiment {eid} and all its replicates?").classes("text-h6")
            ui.label("It leaves the model; the values stay in the edit history.")
            reason = ui.input("reason").classes("w-full")
            with ui.row():
                ui.button("delete", on_click=lambda: dlg.submit(True)).props("color=negative data-test=confirm-delete")
                ui.button("cancel", on_click=lambda: dlg.submit(False)).props("flat")
        if await dlg:
            done = await call(lambda: self.camp.delete_experiment(eid, by=self.who.name, reason=reason.value or "") or True)
            if done:
                ui.notify(f"experiment {eid} deleted", type="positive")
                await self.reload()

    async def attach_dialog(self) -> None:
        eid = self._selected()
        if eid is None:
            return
        derived = self.obj.derived
        with ui.dialog() as dlg, ui.card().classes("w-[36rem]"):
            ui.label(f"Attach a raw file to experiment {eid}").classes("text-h6")
            if derived is not None:
                ui.label(f"The objective is computed from it: {derived.describe()}.")
            size = ui.input("sample size a x b x c with unit, field along c (e.g. 0.5x1.2x2.8mm)").classes("w-full")
            geometry = ui.select(["rectangular", "square", "cylinder"], value="rectangular", label="geometry")
            size.visible = geometry.visible = derived is not None and derived.quantity == "jc"

            async def on_file(e) -> None:
                data = await e.file.read()
                props = {"size": size.value or None, "geometry": geometry.value} if size.visible else {}
                rep = await call(self.camp.attach, eid, e.file.name, data=data, name=e.file.name,
                                 properties=props, by=self.who.name)
                if rep is not None:
                    msg = f"attached {rep.filename}"
                    if rep.value is not None:
                        msg += f": {self.obj.name} = {rep.value:.4g} {self.obj.unit}"
                    ui.notify(msg, type="positive")
                    dlg.submit(True)

            ui.upload(on_upload=on_file, auto_upload=True, max_file_size=MAX_ATTACHMENT_BYTES, label="raw file")
            ui.button("close", on_click=lambda: dlg.submit(False)).props("flat")
        if await dlg:
            await self.reload()

    async def details_dialog(self) -> None:
        eid = self._selected()
        if eid is None:
            return
        detail = await call(self.camp.experiment, eid)
        edits = await call(self.camp.edits)
        if detail is None or edits is None:
            return
        mine = {m.measurement_id for m in detail.measurements}
        with ui.dialog() as dlg, ui.card().classes("w-[48rem]"):
            ui.label(f"Experiment {eid}: {detail.source}, round {detail.round}").classes("text-h6")
            ui.label(", ".join(f"{k} = {_fmt(v)}" for k, v in detail.conditions.items()))
            for m in detail.measurements:
                ui.label(f"#{m.measurement_id}: {m.value:.6g} {m.unit} by {m.measured_by or '?'} "
                         f"at {m.measured_at:%Y-%m-%d %H:%M} {m.note}")
            for a in detail.attachments:
                ui.label(f"file {a.filename} ({a.kind}, sha256 {a.sha256[:12]}…) {a.properties}")
            ui.label("edit history").classes("text-subtitle2 q-mt-md")
            rel = [x for x in edits if (x.entity == "experiment" and x.entity_id == eid)
                   or (x.entity == "measurement" and x.entity_id in mine)]
            if not rel:
                ui.label("no edits")
            for x in rel:
                ui.label(f"{x.edited_at:%Y-%m-%d %H:%M} {x.edited_by}: {x.action} {x.entity} {x.entity_id}"
                         f" — {x.before} → {x.after} {('(' + x.reason + ')') if x.reason else ''}").classes("text-caption")
            ui.button("close", on_click=dlg.close).props("flat")
        dlg.open()

    # ---------------------------------------------------------------- propose
    def propose_panel(self) -> None:
        if self.can_write:
            with ui.row().classes("items-end"):
                self.batch = ui.number("batch size", value=5, min=1, max=20, step=1, format="%d") \
                    .props("data-test=batch-size").classes("w-28")
                self.acq = ui.select(ACQUISITIONS, value=self.camp.settings.acquisition, label="acquisition").props("data-test=acquisition") \
                    .classes("w-72")
                self.explore = ui.number("exploration (UCB beta)", value=self.camp.settings.beta, min=0, step=0.5) \
                    .classes("w-48").tooltip("UCB: weight of the uncertainty; EI/PI: margin above the best (standardised)")
                self.acq.on_value_change(self._explore_label)
                self._explore_label()
                self.seed = ui.number("seed (optional)", value=None, min=0, step=1, format="%d").classes("w-36")
                self.propose_button = ui.button("Propose next batch", icon="auto_awesome", on_click=self.propose) \
                    .props("color=primary data-test=propose")
                self.propose_spinner = ui.spinner(size="lg")
                self.propose_spinner.visible = False
        ui.label("Pending proposals: measure them, then enter the results (replicates separated by commas) "
                  "or download the CSV, fill it in and record it on the Data tab.").classes("q-mt-md")
        self.pending_box = ui.column().classes("w-full")

    def _explore_label(self, *_: Any) -> None:
        ucb = self.acq.value == "ucb"
        self.explore.props(f'label="{"exploration (UCB beta)" if ucb else "exploration (EI/PI margin xi)"}"')
        self.explore.value = self.camp.settings.beta if ucb else self.camp.settings.xi

    async def propose(self) -> None:
        self.propose_button.disable()
        self.propose_spinner.visible = True
        try:
            key = "beta" if self.acq.value == "ucb" else "xi"
            settings = {key: float(self.explore.value or 0)} if self.acq.value != "qlognei" else {}
            seed = int(self.seed.value) if self.seed.value not in (None, "") else None
            batch = await call(self.camp.propose, int(self.batch.value or 5), self.acq.value, seed=seed,
                               by=self.who.name, settings=settings)
        finally:
            self.propose_button.enable()
            self.propose_spinner.visible = False
        if batch is not None:
            ui.notify(f"round {batch.round}: {len(batch.proposals)} proposals ({batch.method}, seed {batch.seed})",
                      type="positive")
            await self.reload()

    def render_pending(self, pending) -> None:
        self.pending = pending
        self.pending_box.clear()
        self.result_inputs: dict[int, Any] = {}
        self.abandon_boxes: dict[int, Any] = {}
        with self.pending_box:
            if not pending:
                ui.label("none").classes("text-grey")
                return
            with ui.grid(columns=self.space.dim + 5).classes("items-center gap-x-4 gap-y-1"):
                for h in (["proposal", "round"] + [column_label(p.name, p.unit) for p in self.space.parameters]
                          + [f"predicted {self.obj.unit}", f"result {self.obj.label}", "abandon"]):
                    ui.label(h).classes("text-bold")
                for i, pr in enumerate(pending):
                    ui.label(str(pr.proposal_id))
                    ui.label(str(pr.round))
                    for p in self.space.parameters:
                        ui.label(_fmt(pr.conditions[p.name]))
                    pm = f"{pr.predicted_mean:.4g} ± {pr.predicted_std:.2g}" if pr.predicted_mean is not None else "—"
                    ui.label(pm)
                    self.result_inputs[pr.proposal_id] = ui.input(placeholder="e.g. 12000, 12500") \
                        .props(f"dense data-test=result-{i}").classes("w-40")
                    self.abandon_boxes[pr.proposal_id] = ui.checkbox().props(f"data-test=abandon-{i}")
            with ui.row():
                if self.can_write:
                    ui.button("save results", icon="save", on_click=self.save_results).props("data-test=save-results")
                    ui.button("abandon ticked", on_click=self.abandon).props("flat color=negative")
                ui.button("download CSV to fill in", icon="download", on_click=self.download_pending).props("flat")

    async def save_results(self) -> None:
        items = []
        for pid, w in self.result_inputs.items():
            if (w.value or "").strip():
                vals = self._values(w.value)
                if vals is None:
                    return
                items.append({"proposal_id": pid, "values": vals})
        if not items:
            ui.notify("enter at least one result", type="warning")
            return
        rep = await call(self.camp.record_results, items, by=self.who.name, where="results")
        if rep is not None:
            ui.notify(f"recorded {rep.proposals_measured} proposals ({rep.measurements} measurements)", type="positive")
            await self.reload()

    async def abandon(self) -> None:
        ids = [pid for pid, box in self.abandon_boxes.items() if box.value]
        if ids and await call(self.camp.abandon, ids) is not None:
            await self.reload()

    async def download_pending(self) -> None:
        frame = await run.io_bound(lambda: self.camp.proposals_frame(self.camp.pending()))
        ui.download.content(frame.to_csv(index=False), f"{self.camp.name}-proposals.csv", "text/csv")
