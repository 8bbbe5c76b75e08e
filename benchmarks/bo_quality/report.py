"""Tables (Markdown) and plots (PNG) from the run records."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bo_quality.methods import METHODS

ORDER = ["datarial", "boxvia", "baybe", "botorch", "optuna", "random"]


def _ordered(methods):
    return [m for m in ORDER if m in methods] + sorted(set(methods) - set(ORDER))


def _group(runs):
    g = defaultdict(list)
    for r in runs:
        if "metrics" in r:
            g[(r["problem"], r["method"])].append(r)
    return g


def summary(runs: list[dict]) -> dict:
    """Per method: median over pool data sets of the seed-mean EF@50, and median ask time."""
    g = _group(runs)
    methods = _ordered({m for _, m in g})
    pools = sorted({p for (p, m), rs in g.items() if "ef_50" in rs[0]["metrics"]})
    out = {}
    for m in methods:
        ef = [np.mean([r["metrics"]["ef_50"] for r in g[(p, m)]]) for p in pools if (p, m) in g]
        asks = [t for (p, mm), rs in g.items() if mm == m for r in rs for t in r["ask_seconds"]]
        out[m] = {"median_ef50": float(np.median(ef)) if ef else float("nan"),
                  "median_ask_s": float(np.median(asks)) if asks else float("nan"), "datasets": len(ef)}
    return out


def markdown(runs: list[dict], meta: dict) -> str:
    g = _group(runs)
    methods = _ordered({m for _, m in g})
    lines = [f"# Optimizer quality ({meta.get('mode', '')})", "",
             f"Command: `{meta.get('command', '')}`. {meta.get('seeds')} seeds per method and problem; "
             f"{meta.get('initial')} seeded random starting points shared by all methods, then batches of "
             f"{meta.get('batch')} up to {meta.get('budget')} evaluations; {meta.get('workers')} worker processes, "
             f"1 torch thread each. Wall time {meta.get('wall_s', 0) / 60:.1f} min on {meta.get('machine', '')}.", ""]
    s = summary(runs)
    if "boxvia" in s:
        ref = s["boxvia"]["median_ef50"]
    else:
        ref = float("nan")
    lines += ["## Summary over the pool data sets", "",
              "| method | median EF@50 over data sets | EF@50 / BOXVIA engine | median time per batch [s] |",
              "|---|---:|---:|---:|"]
    for m in methods:
        v = s[m]
        lines.append(f"| {METHODS[m].label if m in METHODS else m} | {v['median_ef50']:.2f} | {v['median_ef50'] / ref:.2f} | "
                     f"{v['median_ask_s']:.3f} |")
    pools = sorted({p for (p, m), rs in g.items() if "ef_10" in rs[0]["metrics"]})
    if pools:
        lines += ["", "## Pool data sets (Olympus, experimental)", "",
                  "EF(i) = Top%(i) / (i/N), Top%(i) = share of the pool's top 5 % found after i evaluations; "
                  "mean ± standard error over seeds; time = median seconds per batch of 5 proposals.", "",
                  "| data set | N | method | EF@10 | EF@25 | EF@50 | Top%@50 | time [s] |",
                  "|---|---:|---|---:|---:|---:|---:|---:|"]
        for p in pools:
            for m in methods:
                rs = g.get((p, m))
                if not rs:
                    continue
                n = meta.get("pool_sizes", {}).get(p, "")

                def cell(key, rs=rs, pct=False):
                    v = np.array([r["metrics"][key] for r in rs if key in r["metrics"]], float)
                    if not len(v):
                        return "–"
                    k = 100 if pct else 1
                    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
                    return f"{k * v.mean():.{0 if pct else 2}f} ± {k * se:.{0 if pct else 2}f}"

                t = np.median([x for r in rs for x in r["ask_seconds"]])
                lines.append(f"| {p} | {n} | {m} | {cell('ef_10')} | {cell('ef_25')} | {cell('ef_50')} | "
                             f"{cell('top_50', pct=True)} % | {t:.3f} |")
    boxes = sorted({p for (p, m), rs in g.items() if "ef_10" not in rs[0]["metrics"]})
    if boxes:
        lines += ["", "## Stepped synthetic problems (noisy)", "",
                  "Simple regret of the best evaluated point (noise-free value) after the budget: "
                  "median [quartiles] over seeds; time = median seconds per batch.", "",
                  "| problem | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
        for p in boxes:
            cells = []
            for m in methods:
                rs = g.get((p, m))
                if not rs:
                    cells.append("–")
                    continue
                v = np.array([r["metrics"]["final_regret"] for r in rs])
                t = np.median([x for r in rs for x in r["ask_seconds"]])
                q1, q2, q3 = np.percentile(v, [25, 50, 75])
                cells.append(f"{q2:.3g} [{q1:.3g}, {q3:.3g}]; {t:.2f} s")
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    errors = [r for r in runs if "error" in r]
    if errors:
        lines += ["", f"## Failed runs ({len(errors)})", ""]
        lines += [f"- {r['method']} on {r['problem']} seed {r['seed']}: {r['error']}" for r in errors[:20]]
    return "\n".join(lines) + "\n"


def plots(runs: list[dict], folder: Path, prefix: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = _group(runs)
    methods = _ordered({m for _, m in g})
    out = []
    for kind, key, ylabel in (("pool", "top_curve", "Top% found (pool's top 5 %) [%]"),
                              ("box", "regret_curve", "simple regret (objective units)")):
        probs = sorted({p for (p, m), rs in g.items() if (key in rs[0]["metrics"]) and
                        (kind == "box") == ("top_curve" not in rs[0]["metrics"])})
        if not probs:
            continue
        cols = min(4, len(probs))
        rows_ = int(np.ceil(len(probs) / cols))
        fig, axes = plt.subplots(rows_, cols, figsize=(4 * cols, 3.2 * rows_), squeeze=False)
        for ax, p in zip(axes.flat, probs, strict=False):
            for m in methods:
                rs = g.get((p, m))
                if not rs:
                    continue
                curves = np.array([r["metrics"][key] for r in rs], float)
                x = np.arange(1, curves.shape[1] + 1)
                k = 100 if kind == "pool" else 1
                mean = k * curves.mean(0)
                se = k * curves.std(0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else 0 * mean
                ax.plot(x, mean, label=m, lw=2 if m == "datarial" else 1.2)
                ax.fill_between(x, mean - se, mean + se, alpha=0.15)
            ax.set_title(p)
            ax.set_xlabel("evaluations")
            ax.set_ylabel(ylabel, fontsize=8)
            if kind == "box":
                ax.set_yscale("symlog", linthresh=1e-3)
        for ax in list(axes.flat)[len(probs):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle("mean ± standard error over seeds")
        fig.tight_layout()
        path = folder / f"{prefix}_{kind}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out
