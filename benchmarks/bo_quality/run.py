"""Run methods × problems × seeds; write all runs as JSON, a Markdown table and plots."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from benchmarks.bo_quality.methods import make_method
from benchmarks.bo_quality.metrics import run_metrics
from benchmarks.bo_quality.problems import load_problem

N_INITIAL, BATCH = 5, 5


def initial_points(problem, seed: int) -> np.ndarray:
    """The seeded random start shared by every method (pool rows, or box points)."""
    rng = np.random.default_rng(10_000 + seed)
    if problem.kind == "pool":
        return rng.choice(len(problem.y), size=N_INITIAL, replace=False)
    return problem.snap(problem.low + rng.random((N_INITIAL, problem.dim)) * (problem.high - problem.low))


def run_one(method_name: str, problem_name, seed: int, budget: int = 50) -> dict:
    """One optimization run (problem by name, or a problem object); returns the trace and ask times."""
    import torch

    torch.set_num_threads(1)
    problem = load_problem(problem_name) if isinstance(problem_name, str) else problem_name
    problem_name = problem.name
    method = make_method(method_name)
    method.prepare()
    t0 = time.perf_counter()
    method.setup(problem)
    setup_seconds = time.perf_counter() - t0
    noise_rng = np.random.default_rng(20_000 + seed)
    record: dict = {"method": method_name, "problem": problem_name, "seed": seed, "ask_seconds": [],
                    "setup_seconds": setup_seconds}
    if problem.kind == "pool":
        rows = list(initial_points(problem, seed))
        available = np.ones(len(problem.y), bool)
        available[rows] = False
        while len(rows) < budget:
            q = min(BATCH, budget - len(rows))
            t0 = time.perf_counter()
            new = np.asarray(method.ask(problem, problem.X[rows], problem.y[rows], q, seed * 1000 + len(rows),
                                        available), dtype=np.int64)
            record["ask_seconds"].append(time.perf_counter() - t0)
            if len(set(new.tolist())) != q or not available[new].all():
                raise RuntimeError(f"{method_name} proposed measured or repeated pool rows {new}")
            available[new] = False
            rows.extend(new.tolist())
        record["rows"] = [int(r) for r in rows]
        record["values"] = record["true_values"] = problem.y[rows].tolist()
    else:
        X = initial_points(problem, seed)
        y = problem.measure(X, noise_rng)
        while len(X) < budget:
            q = min(BATCH, budget - len(X))
            t0 = time.perf_counter()
            new = problem.snap(method.ask(problem, X, y, q, seed * 1000 + len(X)))[:q]
            record["ask_seconds"].append(time.perf_counter() - t0)
            X = np.vstack([X, new])
            y = np.concatenate([y, problem.measure(new, noise_rng)])
        record["X"] = X.tolist()
        record["values"] = y.tolist()
        record["true_values"] = problem.f(X).tolist()
    return record


def _safe(args):
    try:
        return run_one(*args)
    except Exception as exc:  # one failing peer must not lose the other runs
        return {"method": args[0], "problem": args[1], "seed": args[2], "error": f"{exc!r}",
                "traceback": traceback.format_exc()}


def _done_runs(checkpoint: Path | None, budget: int) -> dict[tuple, dict]:
    """Finished runs from a checkpoint file (one JSON object per line); errors are retried."""
    done: dict[tuple, dict] = {}
    if checkpoint is None or not checkpoint.exists():
        return done
    for line in checkpoint.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a killed run
            continue
        if "error" not in r and r.get("budget", budget) == budget:
            done[(r["method"], r["problem"], r["seed"])] = r
    return done


def run_all(methods, problems, seeds, budget: int, workers: int, progress=True,
            checkpoint: Path | None = None) -> list[dict]:
    """Run every (method, problem, seed); with ``checkpoint``, append each finished run there
    and skip the runs it already holds, so a stopped benchmark resumes where it was."""
    jobs = [(m, p, s, budget) for p in problems for s in seeds for m in methods]
    done = _done_runs(checkpoint, budget)
    runs: list[dict] = [done[j[:3]] for j in jobs if j[:3] in done]
    jobs = [j for j in jobs if j[:3] not in done]
    sink = None
    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        sink = checkpoint.open("a")

    def finished(r: dict) -> None:
        runs.append(r)
        if sink is not None:
            sink.write(json.dumps({**r, "budget": budget}) + "\n")
            sink.flush()
        bar and bar.update()

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="runs", unit="run")
    try:
        if workers <= 1:
            for job in jobs:
                finished(_safe(job))
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            # spawn: forked children of a process that has started torch's thread pool can deadlock
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_safe, job) for job in jobs]
                for fut in as_completed(futures):
                    finished(fut.result())
    finally:
        bar and bar.close()
        sink and sink.close()
    runs.sort(key=lambda r: (r["problem"], r["method"], r["seed"]))
    for r in runs:
        r.pop("budget", None)
        if "error" not in r:
            r["metrics"] = run_metrics(r, load_problem(r["problem"]))
    return runs


def save_runs(runs: list[dict], path: Path, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
