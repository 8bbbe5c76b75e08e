"""The shared database on SQLite and PostgreSQL: schema, both loops, transactions, concurrency."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import text

from datarial.campaign import Campaign, ExperimentRecord, MeasurementRecord
from datarial.errors import ConflictError, DataFileError, NotFoundError, StoreError
from datarial.store import Store, resolve_url

from .conftest import write

DATA = "T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n550,0,0,1000\n550,3000,0,2000\n900,0,0,1500\n900,3000,0,4000\n730,1500,0,8000\n"


def test_migrations_create_exactly_the_models_schema(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from datarial.store.models import Base

    assert {"campaigns", "experiments", "measurements", "proposal_batches", "proposals", "attachments",
            "blobs", "edits", "api_tokens", "descriptors", "alembic_version"} <= set(store.tables())
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0004"
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_older_database_is_upgraded_with_its_data(db_url, mgb2_space, tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from datarial.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("insert into campaigns (name, space, settings, created_at, created_by) "
                          "values ('old', :space, '{}', CURRENT_TIMESTAMP, 'x')"),
                     {"space": __import__("json").dumps(mgb2_space.to_dict())})
    engine.dispose()
    store = Store(db_url)
    assert "attachments" in store.tables()
    assert Campaign.open(store, "old").space == mgb2_space


def test_reopening_keeps_data_and_migrates_idempotently(db_url, mgb2_space, tmp_path):
    s1 = Store(db_url)
    Campaign.create(s1, mgb2_space).import_file(write(tmp_path / "d.csv", DATA))
    s1.dispose()
    s2 = Store(db_url)
    assert Campaign.open(s2, "mgb2-imd").status().measurements == 5
    s2.dispose()


def test_sqlite_uses_wal(sqlite_store):
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_both_loops_share_one_record(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA), by="ana")
    batch = c.propose(3, "ei", seed=0, by="bot")
    assert batch.round == 2 and batch.method == "model"
    assert [p.status for p in c.pending()] == ["pending"] * 3

    frame = c.proposals_frame(batch.proposals)
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    frame.loc[:, "Jc_4p2K_7T [A/cm2]"] = [5000.0, None, 7000.0, 5200.0]  # second one not measured yet
    frame.to_csv(tmp_path / "r.csv", index=False)
    rep = c.record_file(tmp_path / "r.csv", by="ben")
    assert (rep.experiments, rep.measurements, rep.skipped_rows) == (2, 3, [3])
    assert len(c.pending()) == 1

    st = c.status()
    assert (st.researcher_experiments, st.proposed_experiments, st.measurements) == (5, 2, 8)
    assert [r.round for r in st.rounds] == [1, 2]
    assert st.best.mean == 8000
    # Every measurement trains the model: 7 distinct conditions.
    assert len(c.surrogate().X_conditions) == 7
    # The next batch avoids measured and pending conditions.
    nxt = c.propose(4, seed=0)
    taken = {tuple(e.conditions.values()) for e in c.experiments()} | {tuple(p.conditions.values()) for p in batch.proposals}
    assert not taken & {tuple(p.conditions.values()) for p in nxt.proposals}
    assert nxt.round == 3


def test_recording_twice_is_refused_and_writes_nothing(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA))
    batch = c.propose(2, seed=0)
    frame = c.proposals_frame(batch.proposals)
    frame["Jc_4p2K_7T [A/cm2]"] = [1.0, 2.0]
    frame.to_csv(tmp_path / "r.csv", index=False)
    c.record_file(tmp_path / "r.csv")
    before = c.status().measurements
    with pytest.raises(DataFileError, match=r"row 2, column 'proposal_id': proposal \d+ is already measured"):
        c.record_file(tmp_path / "r.csv")
    assert c.status().measurements == before


def test_record_refuses_unknown_proposal_and_keeps_earlier_rows_out(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA))
    batch = c.propose(1, seed=0)
    pid = batch.proposals[0].proposal_id
    write(tmp_path / "r.csv", f"proposal_id,T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n{pid},550,10,0,5\n999,550,20,0,6\n")
    with pytest.raises(DataFileError, match="row 3, column 'proposal_id': proposal 999 is not part of campaign"):
        c.record_file(tmp_path / "r.csv")
    assert c.status().measurements == 5 and len(c.pending()) == 1


def test_record_without_proposal_id_column_points_to_import(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    with pytest.raises(DataFileError, match="missing column 'proposal_id'"):
        c.record_file(write(tmp_path / "d.csv", DATA))


def test_deviating_conditions_are_stored_and_flagged(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA))
    p = c.propose(1, seed=0).proposals[0]
    write(tmp_path / "r.csv", f"proposal_id,T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n{p.proposal_id},555,10,0,5\n")
    rep = c.record_file(tmp_path / "r.csv")
    assert "differ from proposal" in rep.notices[0]
    flagged = [e for e in c.experiments() if e.source == "proposed"][0]
    assert flagged.flags == ["off-grid:T_max", "deviates-from-proposal"]


def test_unseeded_batch_stores_the_seed_it_used(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA))
    first = c.propose(3)
    assert first.seed is not None
    c.abandon([p.proposal_id for p in first.proposals])
    again = c.propose(3, seed=first.seed)
    assert [p.conditions for p in again.proposals] == [p.conditions for p in first.proposals]


def test_abandon(store, mgb2_space, tmp_path):
    c = Campaign.create(store, mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA))
    ids = [p.proposal_id for p in c.propose(2, seed=0).proposals]
    assert c.abandon(ids[:1]) == 1
    assert [p.proposal_id for p in c.pending()] == ids[1:]
    with pytest.raises(ConflictError, match="abandoned, not pending"):
        c.abandon(ids[:1])
    with pytest.raises(NotFoundError):
        c.abandon([12345])


def test_duplicate_campaign_and_unknown_campaign(store, mgb2_space):
    Campaign.create(store, mgb2_space)
    with pytest.raises(ConflictError, match="exists already"):
        Campaign.create(store, mgb2_space)
    with pytest.raises(NotFoundError, match="no campaign 'nope'.*mgb2-imd"):
        Campaign.open(store, "nope")


def test_failed_batch_insert_rolls_back(store, mgb2_space):
    c = Campaign.create(store, mgb2_space)
    good = ExperimentRecord({"T_max": 600, "t_hold": 10, "MgB2_frac": 0}, measurements=[MeasurementRecord(1.0)])
    bad = ExperimentRecord({"T_max": 600, "t_hold": 10, "MgB2_frac": 20}, measurements=[MeasurementRecord(1.0)])
    with pytest.raises(Exception, match="not one of the categories"):
        c.add_experiments([good, bad])
    assert c.status().experiments == 0


def test_concurrent_writers_lose_nothing(db_url, mgb2_space):
    Campaign.create(Store(db_url), mgb2_space)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            store = Store(db_url)
            c = Campaign.open(store, "mgb2-imd")
            for i in range(10):
                c.add_experiments([ExperimentRecord({"T_max": 550 + 10 * k, "t_hold": 10 * i, "MgB2_frac": 0},
                                                    measurements=[MeasurementRecord(float(100 * k + i))])])
            store.dispose()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    values = sorted(Campaign.open(Store(db_url), "mgb2-imd").observations().values)
    assert values == sorted(float(100 * k + i) for k in range(4) for i in range(10))


def test_concurrent_proposals_get_distinct_batches(db_url, mgb2_space, tmp_path):
    c = Campaign.create(Store(db_url), mgb2_space)
    c.import_file(write(tmp_path / "d.csv", DATA))
    batches, errors = [], []

    def worker() -> None:
        try:
            batches.append(Campaign.open(Store(db_url), "mgb2-imd").propose(3, seed=0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    keys = [tuple(p.conditions.values()) for b in batches for p in b.proposals]
    assert len(keys) == len(set(keys)) == 6


def test_url_resolution(monkeypatch):
    monkeypatch.delenv("DATARIAL_DB", raising=False)
    assert resolve_url(None) == "sqlite:///datarial.db"
    assert resolve_url("lab.db") == "sqlite:///lab.db"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("DATARIAL_DB", "other.db")
    assert resolve_url(None) == "sqlite:///other.db"


def test_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="folder .* does not exist"):
        Store(str(tmp_path / "no" / "such" / "lab.db"))
    with pytest.raises(StoreError, match="cannot open database postgresql"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
