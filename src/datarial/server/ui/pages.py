"""Pages: log-in, campaign list + new campaign, and the campaign workbench."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import app, run, ui

from datarial.campaign import Campaign
from datarial.campaign.records import suggest_space
from datarial.errors import DatarialError
from datarial.io.tables import read_table
from datarial.server.api.common import UPLOAD_LIMIT_BYTES
from datarial.server.auth import Principal
from datarial.server.ui.context import UIContext
from datarial.space import SearchSpace, space_from_text

CONTEXT: UIContext | None = None
UPLOAD_LIMIT = UPLOAD_LIMIT_BYTES  # the same limit as the REST uploads


async def call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run core work in a worker thread; a DatarialError becomes a notification (returns None)."""
    try:
        return await run.io_bound(fn, *args, **kwargs)
    except DatarialError as exc:
        ui.notify(str(exc), type="negative", multi_line=True, close_button=True, timeout=15000)
        return None


def guard() -> Principal | None:
    p = CONTEXT.principal(app.storage.user)
    if p is None:
        ui.navigate.to("/login")
    return p


def header(p: Principal, title: str = "") -> None:
    with ui.header().classes("items-center bg-indigo-9 q-py-sm"):
        ui.link("datarial", "/").classes("text-h6 text-white no-underline")
        if title:
            ui.label("/").classes("text-white")
            ui.label(title).classes("text-h6 text-white").props("data-test=campaign-title")
        ui.space()
        ui.label(f"{p.name} ({p.role})").classes("text-white text-caption")
        ui.button(icon="logout", on_click=lambda: (app.storage.user.clear(), ui.navigate.to("/login"))) \
            .props("flat round color=white dense").tooltip("change user / token")


def register() -> None:
    ui.page("/login")(login_page)
    ui.page("/")(home_page)
    ui.page("/campaign/{name}")(campaign_page)


# ------------------------------------------------------------------------------------ login
def login_page() -> None:
    needs_token = CONTEXT.auth.required
    with ui.card().classes("absolute-center w-96"):
        ui.label("datarial").classes("text-h5")
        ui.label("This server needs an access token." if needs_token else "Who is working? (for the 'by' columns)")
        token = ui.input("access token", password=True).props("data-test=token").classes("w-full")
        token.visible = needs_token
        user = ui.input("your name", value=app.storage.user.get("user", "")).props("data-test=user").classes("w-full")

        def submit() -> None:
            if needs_token and CONTEXT.auth.resolve(token.value.strip()) is None:
                ui.notify("invalid or revoked token", type="negative")
                return
            app.storage.user["token"] = token.value.strip() if needs_token else ""
            app.storage.user["user"] = user.value.strip()
            ui.navigate.to("/")

        ui.button("Continue", on_click=submit).props("data-test=login")


# ------------------------------------------------------------------------------------ home
def home_page() -> None:
    p = guard()
    if p is None:
        return
    header(p)
    with ui.column().classes("w-full q-pa-md"):
        ui.label("Campaigns").classes("text-h5")
        columns = [
            {"name": "name", "label": "campaign", "field": "name", "sortable": True, "align": "left"},
            {"name": "objective", "label": "objective", "field": "objective", "align": "left"},
            {"name": "goal", "label": "goal", "field": "goal"},
            {"name": "experiments", "label": "experiments", "field": "experiments", "sortable": True},
            {"name": "measurements", "label": "measurements", "field": "measurements", "sortable": True},
            {"name": "pending", "label": "pending proposals", "field": "pending"},
            {"name": "created", "label": "created", "field": "created", "sortable": True},
        ]
        rows = [{"name": c.name, "objective": c.objective, "goal": c.goal, "experiments": c.experiments,
                 "measurements": c.measurements, "pending": c.pending, "created": c.created_at.strftime("%Y-%m-%d %H:%M")}
                for c in Campaign.list(CONTEXT.store)]
        table = ui.table(columns=columns, rows=rows, row_key="name").classes("w-full").props("data-test=campaigns")
        table.on("rowClick", lambda e: ui.navigate.to(f"/campaign/{e.args[1]['name']}"))
        if not rows:
            ui.label("No campaigns yet: create one below.").classes("text-grey")
        if p.allows("write"):
            new_campaign_card(p)


def new_campaign_card(p: Principal) -> None:
    state: dict[str, Any] = {"name": "", "objective": "Jc", "unit": "A/cm2", "goal": "maximize",
                             "transform": "none", "constraints": "", "parameters": [_param()], "table": None}

    async def create(space: SearchSpace | None = None) -> None:
        if space is None:
            space = _space_from_form(state)
            if space is None:
                return
        camp = await call(Campaign.create, CONTEXT.store, space, created_by=p.name)
        if camp is None:
            return
        if state["table"] is not None:
            data, fname = state["table"]
            rep = await call(camp.import_file, fname, by=p.name, data=data, name=fname)
            if rep is not None:
                ui.notify(f"imported {rep.experiments} experiments from {fname}")
        ui.navigate.to(f"/campaign/{camp.name}")

    with ui.card().classes("w-full"):
        ui.label("New campaign").classes("text-h6")
        with ui.tabs() as tabs:
            t_form = ui.tab("Form").props("data-test=tab-form")
            t_yaml = ui.tab("Upload YAML").props("data-test=tab-yaml")
            t_csv = ui.tab("From a CSV/Excel table").props("data-test=tab-csv")
        with ui.tab_panels(tabs, value=t_form).classes("w-full"):
            with ui.tab_panel(t_form):
                @ui.refreshable
                def form() -> None:
                    _campaign_form(state, create, form.refresh)

                form()
            with ui.tab_panel(t_yaml):
                ui.label("A campaign YAML (name, objective, parameters, constraints), as in examples/mgb2-imd.yaml.")

                async def on_yaml(e) -> None:
                    data = await e.file.read()
                    try:
                        space = space_from_text(data.decode("utf-8"), source=e.file.name)
                    except (DatarialError, UnicodeDecodeError) as exc:
                        ui.notify(f"{e.file.name}: {exc}", type="negative", multi_line=True, timeout=15000)
                        return
                    state["table"] = None
                    await create(space)

                ui.upload(on_upload=on_yaml, auto_upload=True, max_file_size=UPLOAD_LIMIT,
                          label="space YAML").props("accept=.yaml,.yml,.json data-test=upload-yaml")
            with ui.tab_panel(t_csv):
                ui.label("A table of experiments: the form is filled from its columns (last column = objective); "
                         "check it, then create — the rows are imported.")

                async def on_table(e) -> None:
                    data = await e.file.read()
                    try:
                        table = read_table(e.file.name, data=data, name=e.file.name)
                        suggested = suggest_space(table)
                    except DatarialError as exc:
                        ui.notify(str(exc), type="negative", multi_line=True, timeout=15000)
                        return
                    state.update(name=suggested["name"], objective=suggested["objective"]["name"],
                                 unit=suggested["objective"]["unit"], table=(data, e.file.name),
                                 parameters=[_param(**pp) for pp in suggested["parameters"]])
                    form.refresh()
                    tabs.set_value(t_form)
                    ui.notify(f"form filled from {e.file.name}: check the bounds and steps, then create")

                ui.upload(on_upload=on_table, auto_upload=True, max_file_size=UPLOAD_LIMIT,
                          label="experiments table").props("accept=.csv,.xlsx,.txt data-test=upload-table")


def _param(name: str = "", type: str = "continuous", unit: str = "", low: float | None = None,
           high: float | None = None, step: float | None = None, values: list | None = None) -> dict[str, Any]:
    return {"name": name, "type": type, "unit": unit, "low": low, "high": high, "step": step,
            "values": ", ".join(map(str, values or []))}


def _campaign_form(state: dict[str, Any], create: Callable, refresh: Callable) -> None:
    with ui.row().classes("items-end"):
        ui.input("campaign name").bind_value(state, "name").props("data-test=name")
        ui.input("objective").bind_value(state, "objective").props("data-test=objective")
        ui.input("objective unit").bind_value(state, "unit").props("data-test=objective-unit").classes("w-28")
        ui.select(["maximize", "minimize"], label="goal").bind_value(state, "goal").classes("w-32")
        ui.select({"none": "as measured", "log": "log10"}, label="model the objective").bind_value(state, "transform") \
            .classes("w-40")
    ui.label("Parameters").classes("text-subtitle1 q-mt-md")
    for i, prm in enumerate(state["parameters"]):
        with ui.row().classes("items-end"):
            ui.input("name").bind_value(prm, "name").props(f"data-test=param-{i}-name").classes("w-36")
            ui.input("unit").bind_value(prm, "unit").props(f"data-test=param-{i}-unit").classes("w-20")
            ui.select(["continuous", "integer", "categorical"], label="kind").bind_value(prm, "type") \
                .props(f"data-test=param-{i}-type").classes("w-32")
            ui.number("low").bind_value(prm, "low").props(f"data-test=param-{i}-low").classes("w-24") \
                .bind_visibility_from(prm, "type", lambda t: t != "categorical")
            ui.number("high").bind_value(prm, "high").props(f"data-test=param-{i}-high").classes("w-24") \
                .bind_visibility_from(prm, "type", lambda t: t != "categorical")
            ui.number("step (optional)").bind_value(prm, "step").props(f"data-test=param-{i}-step").classes("w-28") \
                .bind_visibility_from(prm, "type", lambda t: t != "categorical")
            ui.input("values (comma-separated)").bind_value(prm, "values").props(f"data-test=param-{i}-values") \
                .bind_visibility_from(prm, "type", lambda t: t == "categorical")

            def remove(k=i) -> None:
                del state["parameters"][k]
                refresh()

            ui.button(icon="delete", on_click=remove).props("flat dense").tooltip("remove this parameter")

    def add() -> None:
        state["parameters"].append(_param())
        refresh()

    ui.button("add parameter", icon="add", on_click=add).props("flat data-test=add-param")
    ui.textarea("linear constraints, one per line (e.g. T_max + 0.1*t_hold <= 1100)").bind_value(state, "constraints") \
        .classes("w-full").props("data-test=constraints")
    ui.button("Create campaign", on_click=lambda: create()).props("color=primary data-test=create")


def _space_from_form(state: dict[str, Any]) -> SearchSpace | None:
    params = []
    for prm in state["parameters"]:
        d: dict[str, Any] = {"name": (prm["name"] or "").strip(), "type": prm["type"], "unit": (prm["unit"] or "").strip()}
        if prm["type"] == "categorical":
            vals = [v.strip() for v in (prm["values"] or "").split(",") if v.strip()]
            d["values"] = [_number_or_text(v) for v in vals]
        else:
            d.update(low=prm["low"], high=prm["high"])
            if prm["step"] not in (None, ""):
                d["step"] = prm["step"]
        params.append(d)
    raw = {"name": (state["name"] or "").strip(),
           "objective": {"name": (state["objective"] or "").strip(), "unit": (state["unit"] or "").strip(),
                         "goal": state["goal"], "transform": state["transform"]},
           "parameters": params,
           "constraints": [c.strip() for c in (state["constraints"] or "").splitlines() if c.strip()]}
    try:
        return SearchSpace.from_dict(raw, source="form")
    except DatarialError as exc:
        ui.notify(str(exc), type="negative", multi_line=True, timeout=15000)
        return None


def _number_or_text(v: str) -> Any:
    try:
        x = float(v)
    except ValueError:
        return v
    return int(x) if x.is_integer() else x


# ------------------------------------------------------------------------------------ campaign
async def campaign_page(name: str) -> None:
    p = guard()
    if p is None:
        return
    try:
        camp = await run.io_bound(Campaign.open, CONTEXT.store, name)
    except DatarialError as exc:
        header(p)
        ui.label(str(exc)).classes("text-negative q-pa-md")
        return
    header(p, camp.name)
    from datarial.server.ui.workbench import Workbench

    await Workbench(camp, p).build()
