"""Segmentation quality on synthetic FIB-SEM volumes: U-Net against Otsu and Sauvola.

A sintered-particle volume (40×128×128 voxels, particle radii 10–18 voxels,
60 % solid) is rendered like a FIB-SEM series (blur 0.8 px, noise 0.08,
curtaining 0.06, slice drift 0.04, misalignment 0.5 px; the ground truth moves
with each slice).  The U-Net is trained on it (the default ``micro train``
settings: 400 steps, unless ``--steps``); every method is then scored on a
*second* volume with other particles and other noise (IoU and Dice per class).
The issue's target is IoU ≥ 0.946.

Run: ``python -m benchmarks.segment_quality [--dim 2|3] [--steps N] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datarial.micro.segment import otsu, sauvola, scores, train
from datarial.micro.synthetic import fib_sem_series, sintered_particles

RESULTS = Path(__file__).with_name("results")
CLASSES = ("pore", "phase")


def volume(seed: int, shape=(40, 128, 128)):
    v = sintered_particles(shape, density=0.6, radius=(10.0, 18.0), closed_pores=0, seed=seed)
    s = fib_sem_series(v.labels, seed=seed)
    return s.image, s.labels


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.segment_quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dim", type=int, choices=(2, 3), default=2)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    img, lab = volume(0)
    test_img, test_lab = volume(1)
    warm = ""
    if args.device.startswith("cuda"):  # the first GPU run starts CUDA and cuDNN (seconds): keep it out of the times
        t0 = time.perf_counter()
        train(img, lab, CLASSES, dim=args.dim, steps=2, batch=2, holdout=0, seed=0, device=args.device)
        warm = f" (after a warm-up run of {time.perf_counter() - t0:.0f} s that starts CUDA)"
    t0 = time.perf_counter()
    seg, _ = train(img, lab, CLASSES, dim=args.dim, steps=args.steps, batch=16 if args.dim == 2 else 4,
                   holdout=0, seed=0, device=args.device)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = np.concatenate(list(seg.segment(test_img, device=args.device)))
    t_seg = time.perf_counter() - t0
    rows = [*scores(pred, test_lab, CLASSES, "U-Net").rows(),
            *scores(otsu(test_img, img, lab, 2), test_lab, CLASSES, "Otsu").rows(),
            *scores(sauvola(test_img, img, lab, 2), test_lab, CLASSES, "Sauvola").rows()]
    frame = pd.DataFrame(rows)
    table = frame.pivot(index="method", columns="class", values="IoU")[["pore", "phase", "mean"]]
    table = table.loc[["U-Net", "Otsu", "Sauvola"]]
    lines = ["# Segmentation of a synthetic FIB-SEM volume (IoU on an unseen volume)", "",
             f"`python -m benchmarks.segment_quality --dim {args.dim} --steps {args.steps} --device {args.device}` "
             f"on {platform.machine()}, {os.cpu_count()} cores"
             f"{', ' + torch.cuda.get_device_name() if args.device.startswith('cuda') else ''}: U-Net ({args.dim}D) trained in {t_train:.0f} s, "
             f"segmentation of the 40×128×128 test volume {t_seg:.1f} s{warm}.", "",
             "| method | IoU pore | IoU phase | mean IoU |", "|---|---:|---:|---:|"]
    lines += [f"| {m} | {r.pore:.3f} | {r.phase:.3f} | {r['mean']:.3f} |" for m, r in table.iterrows()]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.device == "cpu" else "_" + args.device.replace(":", "")
    (RESULTS / f"segment_quality_{args.dim}d{suffix}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
