"""The whole campaign loop in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

``./dev test`` installs Chromium when it is missing; without it this test is
skipped, except under CI=true where it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from datarial.campaign import Campaign
from datarial.store import Store

CHROMIUM = os.environ.get("DATARIAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
DATA = ("T_max [degC],t_hold [min],Jc [A/cm2]\n550,0,1000\n550,3000,2500\n900,0,1800\n900,3000,4200\n"
        "730,1500,8800\n730,1500,9100\n650,500,5200\n")
TIMEOUT_MS = 60_000


def _browser_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


if not _browser_available():
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser test needs Playwright and Chromium at {CHROMIUM}; ./dev test installs them")
    pytest.skip("Chromium or Playwright missing (./dev test installs them)", allow_module_level=True)

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(tmp_path: Path, token: str | None = None):
    """``datarial serve`` as users start it, on a fresh SQLite file."""
    db = tmp_path / "lab.db"
    port = free_port()
    env = {**os.environ, "NICEGUI_STORAGE_PATH": str(tmp_path / "ui-storage")}
    env.pop("DATARIAL_TOKEN", None)
    if token:
        env["DATARIAL_TOKEN"] = token
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "datarial.cli.main", "serve", "--db", str(db), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "serve.log").read_text())
            time.sleep(0.2)
        yield base, str(db)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path) as srv:
        yield srv


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1500, "height": 1000})
        pg.set_default_timeout(TIMEOUT_MS)
        yield pg
        pg.screenshot(path=str(tmp_path / "last.png"), full_page=True)
        browser.close()


def field(page, test_id: str):
    """The native input of a NiceGUI/Quasar field (Quasar puts the attribute on the input itself)."""
    return page.locator(f"input[data-test={test_id}], [data-test={test_id}] input").first


def fill(page, test_id: str, value: str) -> None:
    field(page, test_id).fill(value)


def plot_traces(page, test_id: str) -> list[str]:
    """'type:name' of every trace of the first plotly figure marked ``test_id``."""
    return page.evaluate(
        "(id) => { const el = document.querySelector(`[data-test=${id}]`);"
        " const plot = el.classList.contains('js-plotly-plot') ? el : el.querySelector('.js-plotly-plot');"
        " return plot.data.map(t => t.type + ':' + (t.name || '')); }", test_id)


def test_whole_campaign_loop_in_the_browser(server, page, tmp_path):
    base, db = server
    # Say who is working (an open server asks no token; the name goes into the 'by' columns).
    page.goto(f"{base}/login")
    fill(page, "user", "Ada")
    page.locator("[data-test=login]").click()
    page.wait_for_url(f"{base}/")

    # Create a campaign with the form: two stepped parameters.
    fill(page, "name", "browser-mgb2")
    fill(page, "objective", "Jc")
    fill(page, "param-0-name", "T_max")
    fill(page, "param-0-unit", "degC")
    fill(page, "param-0-low", "550")
    fill(page, "param-0-high", "900")
    fill(page, "param-0-step", "10")
    page.locator("[data-test=add-param]").click()
    field(page, "param-1-name").wait_for()
    fill(page, "param-1-name", "t_hold")
    fill(page, "param-1-unit", "min")
    fill(page, "param-1-low", "0")
    fill(page, "param-1-high", "3000")
    fill(page, "param-1-step", "10")
    page.locator("[data-test=create]").click()
    page.wait_for_url("**/campaign/browser-mgb2")

    # Upload the researcher's first round.
    csv = tmp_path / "round1.csv"
    csv.write_text(DATA)
    field(page, "upload-data").set_input_files(str(csv))
    page.get_by_text("imported 6 experiments").wait_for()
    page.locator("[data-test=experiments] tbody tr").nth(5).wait_for()

    # Propose a batch of 3.
    page.locator("[data-test=tab-propose]").click()
    fill(page, "batch-size", "3")
    page.locator("[data-test=propose]").click()
    field(page, "result-2").wait_for()
    assert page.locator("[data-test=pending-count]").inner_text().startswith("3 pending")

    # The 2D maps render: mean, std and acquisition heatmaps with data and proposals marked.
    page.locator("[data-test=tab-maps]").click()
    page.locator("[data-test=update-map]").click()
    page.locator("[data-test=map-plot] .main-svg").first.wait_for()
    traces = plot_traces(page, "map-plot")
    assert sum(t.startswith("heatmap") for t in traces) == 3
    assert any(t == "scatter:data" for t in traces) and any(t == "scatter:proposed" for t in traces)
    assert page.locator("[data-test=map-plot] .heatmaplayer image").count() == 3

    # Record results in the UI.
    page.locator("[data-test=tab-propose]").click()
    fill(page, "result-0", "9500, 9700")
    fill(page, "result-1", "7000")
    fill(page, "result-2", "6100")
    page.locator("[data-test=save-results]").click()
    page.get_by_text("recorded 3 proposals (4 measurements)").wait_for()
    page.locator("[data-test=pending-count]").get_by_text("0 pending").wait_for()

    # Everything landed in the shared database, attributed to the person.
    camp = Campaign.open(Store(db), "browser-mgb2")
    st = camp.status()
    assert st.experiments == 9 and st.measurements == 11 and st.proposed_experiments == 3
    assert {e.created_by for e in camp.experiments()} == {"Ada"}
    assert [r.round for r in st.rounds] == [1, 2]

    # History shows the best-so-far plot and one map per round.
    page.locator("[data-test=tab-history]").click()
    page.locator("[data-test=show-history]").click()
    page.locator("[data-test=history-plot] .main-svg").first.wait_for()
    assert sum(t.startswith("heatmap") for t in plot_traces(page, "history-plot")) == 2


def test_token_server_asks_for_the_token_once_and_viewers_cannot_write(tmp_path, page):
    admin = "admin-token-for-the-test"
    with running_server(tmp_path, token=admin) as (base, db):
        from datarial.space import space_from_text
        from datarial.store.tokens import issue_token

        from .conftest import MGB2_YAML

        store = Store(db)
        Campaign.create(store, space_from_text(MGB2_YAML))
        viewer, _ = issue_token(store, "read", "visitor")
        assert httpx.get(f"{base}/api/v1/campaigns").status_code == 401

        page.goto(f"{base}/campaign/mgb2-imd")
        page.wait_for_url("**/login")
        fill(page, "token", "not-the-token")
        page.locator("[data-test=login]").click()
        page.get_by_text("invalid or revoked token").wait_for()
        fill(page, "token", viewer)
        fill(page, "user", "Visitor")
        page.locator("[data-test=login]").click()
        page.wait_for_url(f"{base}/")
        page.locator("[data-test=campaigns]").get_by_text("mgb2-imd").wait_for()
        assert page.locator("[data-test=create]").count() == 0  # viewers cannot create

        # The token is remembered: the campaign opens without asking again, read-only.
        page.goto(f"{base}/campaign/mgb2-imd")
        page.locator("[data-test=campaign-title]").wait_for()
        page.locator("[data-test=tab-propose]").click()
        assert page.locator("[data-test=propose]").count() == 0
        assert page.locator("[data-test=add-experiment]").count() == 0


def test_descriptors_show_in_the_table_plot_and_model_check(server, page):
    """Microstructure descriptors attached in the shared database: a table column, Jc vs descriptor, model inputs."""
    from datarial.space import space_from_text

    from .test_descriptors import BA122, porous_campaign

    base, db = server
    camp = Campaign.create(Store(db), space_from_text(BA122))
    porous_campaign(camp)
    page.goto(f"{base}/login")
    fill(page, "user", "Ada")
    page.locator("[data-test=login]").click()
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/campaign/{camp.name}")
    table = page.locator("[data-test=experiments]")
    table.locator("th", has_text="descriptor: porosity [1]").wait_for()
    first = camp.descriptors_frame().query("name == 'porosity'").iloc[0]
    row = table.locator("tbody tr").filter(has=page.locator("td", has_text=str(int(first.experiment_id)))).first
    assert f"{first.value:.4g}" in row.inner_text()

    # Jc against the descriptor, with Pearson's r.
    page.locator("[data-test=descriptor]").click()
    page.get_by_role("option", name="porosity").click()
    page.locator("[data-test=plot-descriptor]").click()
    page.locator("[data-test=correlation-plot] .main-svg").first.wait_for()
    r = camp.correlate_descriptor("porosity").r
    assert f"Pearson r = {r:.3f} over 18 experiments" in page.locator("[data-test=correlation-r]").inner_text()

    # The model check with the descriptor as an extra input beats the process-only model.
    page.locator("[data-test=tab-diagnostics]").click()
    page.locator("[data-test=diagnostics-descriptors]").click()
    page.get_by_role("option", name="porosity").click()
    page.keyboard.press("Escape")
    page.locator("[data-test=show-diagnostics]").click()
    text = page.locator("[data-test=diagnostics-descriptor-r2]").inner_text()
    check = camp.diagnose_descriptors(["porosity"])
    assert f"LOO R² {check.with_descriptors.r2:.3f}" in text and f"{check.process_only.r2:.3f}" in text

    # The check downloads as a table and as a figure.
    with page.expect_download() as dl:
        page.locator("[data-test=diagnostics-csv]").click()
    table = Path(dl.value.path()).read_text()
    assert "LOO predicted" in table.splitlines()[0] and len(table.splitlines()) == 1 + 18
    with page.expect_download() as dl:
        page.locator("[data-test=diagnostics-png]").click()
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
