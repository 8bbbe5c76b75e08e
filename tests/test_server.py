"""The running server: concurrent clients over real HTTP, bind/token rules, the serve/token commands."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from datarial.errors import DatarialError
from datarial.server.app import create_app
from datarial.server.auth import check_bind
from datarial.store import Store
from datarial.store.models import MeasurementRow

from .conftest import MGB2_YAML
from .test_cli import run

CLIENTS = 8
RESULTS = 200  # in all, posted one per request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(db_url):
    """The API on a real uvicorn server in a thread (the UI is left out)."""
    store = Store(db_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, ui=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/api/v1", store
    server.should_exit = True
    thread.join(10)
    store.dispose()


def test_eight_clients_posting_at_once_store_every_result_exactly_once(live_server):
    base, store = live_server
    assert httpx.post(f"{base}/campaigns", json={"space_yaml": MGB2_YAML}).status_code == 201
    conditions = [{"T_max": 550 + 10 * (i % 30), "t_hold": 100 * (i % 25), "MgB2_frac": [0, 10, 30][i % 3]}
                  for i in range(RESULTS)]
    barrier = threading.Barrier(CLIENTS)

    def client(k: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=base, timeout=60) as c:
            barrier.wait()
            for i in range(k, RESULTS, CLIENTS):
                r = c.post("/campaigns/mgb2-imd/results", json={"results": [
                    {"conditions": conditions[i], "value": 1000 + i, "note": f"result-{i}"}]},
                    headers={"X-Datarial-User": f"client-{k}"})
                codes.append(r.status_code)
        return codes

    with ThreadPoolExecutor(CLIENTS) as pool:
        codes = [c for codes in pool.map(client, range(CLIENTS)) for c in codes]
    assert Counter(codes) == {201: RESULTS}
    with store.session() as s:
        notes = Counter(s.scalars(select(MeasurementRow.note)).all())
    assert notes == {f"result-{i}": 1 for i in range(RESULTS)}
    assert httpx.get(f"{base}/campaigns/mgb2-imd").json()["measurements"] == RESULTS


def test_two_researchers_proposing_at_once_get_different_batches(live_server):
    base, _ = live_server
    httpx.post(f"{base}/campaigns", json={"space_yaml": MGB2_YAML})
    rows = [{"conditions": {"T_max": t, "t_hold": h, "MgB2_frac": 0}, "value": v}
            for t, h, v in [(550, 0, 1e3), (900, 0, 2e3), (550, 3000, 3e3), (900, 3000, 4e3), (730, 1500, 9e3)]]
    httpx.post(f"{base}/campaigns/mgb2-imd/results", json={"results": rows})

    def ask(seed: int) -> list[dict]:
        r = httpx.post(f"{base}/campaigns/mgb2-imd/proposals", json={"batch_size": 3, "seed": seed}, timeout=120)
        assert r.status_code == 201, r.text
        return r.json()["proposals"]

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(ask, [1, 1])
    keys = {tuple(sorted(p["conditions"].items())) for p in a + b}
    assert len(keys) == 6  # the second batch saw the first as pending


def test_binding_beyond_loopback_needs_a_token():
    with pytest.raises(DatarialError, match="--token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "a-long-enough-token")
    check_bind("127.0.0.1", None)
    with pytest.raises(DatarialError, match="12 characters"):
        check_bind("0.0.0.0", "short")


def test_serve_refuses_public_bind_without_token(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DATARIAL_TOKEN", raising=False)
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.db"))
    assert code == 2 and "--token" in err


def test_token_commands_issue_list_and_revoke(capsys, tmp_path):
    db = str(tmp_path / "lab.db")
    code, out, _ = run(capsys, "token", "issue", "--role", "read", "--label", "visitor", "--db", db)
    assert code == 0 and "dtr_" in out
    secret = out.split(": ")[-1].strip()
    from datarial.store.tokens import token_role

    assert token_role(Store(db), secret) == "read"
    assert "visitor" in run(capsys, "token", "list", "--db", db)[1]
    assert run(capsys, "token", "revoke", "1", "--db", db)[0] == 0
    assert token_role(Store(db), secret) is None
    assert "REVOKED" in run(capsys, "token", "list", "--db", db)[1]
