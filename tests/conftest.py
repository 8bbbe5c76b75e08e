"""Shared fixtures: stores on SQLite and PostgreSQL, small realistic campaigns."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from datarial.campaign import Campaign
from datarial.space import space_from_text
from datarial.store import Store

warnings.filterwarnings("ignore", message=".*not p.d., added jitter.*")

PG_URL = os.environ.get("DATARIAL_TEST_PG")

MGB2_YAML = """
name: mgb2-imd
objective: {name: Jc_4p2K_7T, unit: A/cm2, goal: maximize}
parameters:
  - {name: T_max, type: continuous, low: 550, high: 900, step: 10, unit: degC}
  - {name: t_hold, type: continuous, low: 0, high: 3000, step: 10, unit: min}
  - {name: MgB2_frac, type: categorical, values: [0, 10, 30], unit: "%"}
constraints: []
"""


def reset_postgres(url: str) -> None:
    """Drop every table so each test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, or the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lab.db'}"
    if not PG_URL:
        pytest.skip("DATARIAL_TEST_PG not set (./dev test starts a PostgreSQL server)")
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def store(db_url: str):
    s = Store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path):
    s = Store(str(tmp_path / "lab.db"))
    yield s
    s.dispose()


@pytest.fixture
def mgb2_space():
    return space_from_text(MGB2_YAML)


@pytest.fixture
def mgb2(sqlite_store, mgb2_space) -> Campaign:
    return Campaign.create(sqlite_store, mgb2_space)


def write(path: Path, text_: str) -> Path:
    path.write_text(text_.lstrip("\n"), encoding="utf-8")
    return path
