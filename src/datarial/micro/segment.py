"""Segmentation of FIB-SEM volumes: a MONAI U-Net (2D slice-wise or 3D patches) and threshold baselines.

Training takes a greyscale volume and a label volume of the same shape whose
voxels hold class indices 0…n-1 (``classes`` names them in that order) or the
ignore value (255 by default) where nobody labelled: a few labelled slices or
sub-volumes are enough.  The last ``holdout`` share of the labelled slices
(along z) is kept out of training and scores the model — IoU and Dice per
class — beside Otsu and Sauvola thresholds fitted on the same training slices.

Inference runs a sliding window with Gaussian-weighted overlap over slabs of
slices, so volumes larger than memory stream from disk (TIFF, Zarr, HDF5,
NumPy memory maps) to disk.  Needs the ``[micro]`` extra (MONAI).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from datarial.devices import resolve_device
from datarial.errors import DatarialError
from datarial.micro import artifacts, need

Progress = Callable[[int, int], None] | None
FORMAT = "datarial-segmenter/1"


@dataclass(frozen=True)
class SegmenterSettings:
    """Everything needed to rebuild a trained network and feed it like in training."""

    dim: int  # 2: slice-wise (y, x) model; 3: patch (z, y, x) model
    classes: tuple[str, ...]
    patch: tuple[int, ...]  # training and inference window, pixels
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    res_units: int = 2
    mean: float = 0.0  # intensity normalisation of the training images
    std: float = 1.0
    ignore: int = 255

    def network(self) -> torch.nn.Module:
        nets = need("monai.networks.nets")
        return nets.UNet(spatial_dims=self.dim, in_channels=1, out_channels=len(self.classes),
                         channels=self.channels, strides=self.strides, num_res_units=self.res_units, norm="batch")


@dataclass
class Scores:
    """IoU and Dice per class of one method on the held-out slices."""

    method: str
    iou: dict[str, float]
    dice: dict[str, float]

    @property
    def mean_iou(self) -> float:
        return float(np.mean(list(self.iou.values())))

    def rows(self) -> list[dict]:
        return [{"method": self.method, "class": c, "IoU": self.iou[c], "Dice": self.dice[c]} for c in self.iou] + [
            {"method": self.method, "class": "mean", "IoU": self.mean_iou, "Dice": float(np.mean(list(self.dice.values())))}]


@dataclass
class TrainReport:
    losses: list[float] = field(default_factory=list)
    scores: list[Scores] = field(default_factory=list)  # U-Net first, then the baselines
    heldout_slices: tuple[int, int] | None = None  # [z0, z1) scored
    seconds: float = 0.0

    def frame(self):
        import pandas as pd

        return pd.DataFrame([r for s in self.scores for r in s.rows()])


def scores(pred: np.ndarray, truth: np.ndarray, classes: tuple[str, ...], method: str, ignore: int = 255) -> Scores:
    """Per-class IoU = |P∩T|/|P∪T| and Dice = 2|P∩T|/(|P|+|T|) over labelled voxels of ``truth``."""
    keep = truth != ignore
    n = len(classes)
    t, p = truth[keep].astype(np.int64), pred[keep].astype(np.int64)
    if t.size and (t.max() >= n or t.min() < 0):
        raise DatarialError(f"labels hold class {int(t.max())}, but only {n} classes are named ({', '.join(classes)})")
    conf = np.bincount(t * n + np.clip(p, 0, n - 1), minlength=n * n).reshape(n, n)
    inter = np.diag(conf).astype(float)
    tsum, psum = conf.sum(1).astype(float), conf.sum(0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tsum + psum - inter > 0, inter / (tsum + psum - inter), np.nan)
        dice = np.where(tsum + psum > 0, 2 * inter / (tsum + psum), np.nan)
    return Scores(method, {c: float(v) for c, v in zip(classes, iou, strict=True)},
                  {c: float(v) for c, v in zip(classes, dice, strict=True)})


# ---------------------------------------------------------------- baselines
def _class_order(images: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Classes sorted by their mean grey level in the labelled voxels (darkest first)."""
    means = []
    for c in range(n):
        sel = labels == c
        means.append(float(images[sel].mean()) if sel.any() else np.inf)
    return np.argsort(means, kind="stable")


def otsu(images: np.ndarray, train_images: np.ndarray, train_labels: np.ndarray, n: int, ignore: int = 255) -> np.ndarray:
    """Global (multi-)Otsu thresholds fitted on the training voxels; classes by grey level."""
    filters = need("skimage.filters")
    order = _class_order(train_images, train_labels, n)
    sample = train_images[train_labels != ignore]
    thr = np.atleast_1d(filters.threshold_otsu(sample) if n == 2 else filters.threshold_multiotsu(sample, classes=n))
    return order[np.digitize(images, thr, right=True)].astype(np.uint8)


def sauvola(images: np.ndarray, train_images: np.ndarray, train_labels: np.ndarray, n: int, ignore: int = 255,
            window: int = 25, k: float = 0.2) -> np.ndarray:
    """Local Sauvola threshold per slice for the darkest class; multi-Otsu splits the rest."""
    filters = need("skimage.filters")
    order = _class_order(train_images, train_labels, n)
    lo, hi = np.percentile(train_images[train_labels != ignore], [0.1, 99.9])
    r = max(0.5 * float(hi - lo), 1e-12)  # dynamic range of the standard deviation (not the dtype's)
    dark = np.stack([images[z] <= filters.threshold_sauvola(images[z], window_size=window, k=k, r=r)
                     for z in range(len(images))])
    out = np.empty(images.shape, np.uint8)
    out[dark] = order[0]
    if n == 2:
        out[~dark] = order[1]
    else:
        sample = train_images[(train_labels != ignore) & (train_labels != order[0])]
        thr = np.atleast_1d(filters.threshold_multiotsu(sample, classes=n - 1) if n > 3 else filters.threshold_otsu(sample))
        out[~dark] = order[1:][np.digitize(images[~dark], thr, right=True)]
    return out


# ---------------------------------------------------------------- training
def _labelled_slices(labels: np.ndarray, ignore: int) -> np.ndarray:
    return np.flatnonzero((labels != ignore).reshape(len(labels), -1).any(1))


def split_slices(labels: np.ndarray, holdout: float, ignore: int = 255) -> int:
    """z index where held-out slices start: the last ``holdout`` share of the labelled slices."""
    z = _labelled_slices(labels, ignore)
    if len(z) == 0:
        raise DatarialError(f"labels: no labelled voxels (every value is the ignore value {ignore})")
    if holdout <= 0:
        return len(labels)
    k = max(1, math.ceil(holdout * len(z)))
    if k >= len(z):
        if len(labels) < 8:
            raise DatarialError(f"labels: {len(z)} labelled slice(s) leave none for training after holding out {k}; "
                                "label more slices or use --holdout 0")
        return int(z[0] + (z[-1] - z[0] + 1) * (1 - holdout))  # one labelled block: split it along z
    return int(z[-k])


def _sample_patch(images: np.ndarray, labels: np.ndarray, patch: tuple[int, ...], rng: np.random.Generator,
                  slices: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A random training window: (1, py, px) from a labelled slice (2D) or (pz, py, px) (3D)."""
    if slices is not None:
        z = int(rng.choice(slices))
        img, lab, window = images[z:z + 1], labels[z:z + 1], (1, *patch)
    else:
        img, lab, window = images, labels, tuple(patch)
    starts = [int(rng.integers(0, max(n - w, 0) + 1)) for n, w in zip(img.shape, window, strict=True)]
    box = tuple(slice(s, s + w) for s, w in zip(starts, window, strict=True))
    return img[box], lab[box]


def _pad_to(a: np.ndarray, shape: tuple[int, ...], value) -> np.ndarray:
    pad = [(0, max(w - n, 0)) for n, w in zip(a.shape, shape, strict=True)]
    if any(p[1] for p in pad):
        a = np.pad(a, pad, mode="reflect" if value is None else "constant", **({} if value is None else {"constant_values": value}))
    return a


def train(images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], dim: int = 2, steps: int = 400,
          batch: int = 16, patch: tuple[int, ...] | None = None, lr: float = 3e-3, holdout: float = 0.2,
          ignore: int = 255, augment: float = 1.0, seed: int = 0, device: str = "cpu",
          progress: Progress = None) -> tuple[Segmenter, TrainReport]:
    """Train a U-Net on (images, labels) of shape (z, y, x); score it on the held-out slices.

    Loss: cross-entropy + Dice over labelled voxels (MONAI's masked Dice).
    Adam with a cosine learning-rate decay; in-plane flips/rotations and
    FIB-SEM artefacts (:func:`datarial.micro.artifacts.augment`) on every patch.
    """
    import time

    losses_mod = need("monai.losses")
    if images.shape != labels.shape:
        raise DatarialError(f"--labels: shape {labels.shape} differs from the images' {images.shape}")
    if dim not in (2, 3):
        raise DatarialError(f"--dim: 2d or 3d, got {dim}")
    n = len(classes)
    if n < 2:
        raise DatarialError("--classes: name at least two classes")
    labels = labels.astype(np.int64)
    bad = np.setdiff1d(np.unique(labels), [*range(n), ignore])
    if len(bad):
        raise DatarialError(f"--labels: values {bad[:5].tolist()} are neither a class index 0…{n - 1} "
                            f"({', '.join(classes)}) nor the ignore value {ignore}")
    z_split = split_slices(labels, holdout, ignore)
    tr_img, tr_lab = images[:z_split].astype(np.float32), labels[:z_split]
    if not (tr_lab != ignore).any():
        raise DatarialError("labels: no labelled voxels before the held-out slices")
    if patch is None:
        patch = (64, 64) if dim == 2 else (32, 32, 32)
    patch = tuple(int(p) for p in patch)
    step = 2 ** 3
    if len(patch) != dim or any(p % step for p in patch):
        raise DatarialError(f"--patch: give {dim} sizes, each a multiple of {step}, got {patch}")
    labelled = tr_lab != ignore
    mean, std = float(tr_img[labelled].mean()), float(tr_img[labelled].std() or 1.0)
    settings = SegmenterSettings(dim=dim, classes=tuple(classes), patch=patch, mean=mean, std=std, ignore=ignore)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = resolve_device(device)
    net = settings.network().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    ce = torch.nn.CrossEntropyLoss(ignore_index=ignore)
    dice = losses_mod.MaskedDiceLoss(to_onehot_y=True, softmax=True)
    norm = (tr_img - mean) / std
    slices = _labelled_slices(tr_lab, ignore) if dim == 2 else None
    window = (1, *patch) if dim == 2 else patch
    report = TrainReport()
    t0 = time.perf_counter()
    net.train()
    for it in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            x, y = _sample_patch(norm, tr_lab, patch, rng, slices)
            x, y = _pad_to(x, window, None), _pad_to(y, window, ignore)
            k = int(rng.integers(4)) if window[1] == window[2] else 2 * int(rng.integers(2))
            x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(1, 2))
            if rng.random() < 0.5:
                x, y = x[:, :, ::-1], y[:, :, ::-1]
            x = artifacts.augment(np.ascontiguousarray(x), rng, augment) if augment > 0 else x
            xs.append(np.ascontiguousarray(x if dim == 3 else x[0]))
            ys.append(np.ascontiguousarray(y if dim == 3 else y[0]))
        x = torch.from_numpy(np.stack(xs)[:, None]).float().to(dev)
        y = torch.from_numpy(np.stack(ys)).to(dev)
        mask = (y != ignore)
        logits = net(x)
        loss = ce(logits, y) + dice(logits, torch.where(mask, y, 0)[:, None], mask=mask[:, None].float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        report.losses.append(float(loss.detach()))
        if progress:
            progress(it + 1, steps)
    net.eval()
    report.seconds = time.perf_counter() - t0
    seg = Segmenter(settings, net.cpu())
    if z_split < len(labels):
        held_img = images[z_split:].astype(np.float32)
        held_lab = labels[z_split:]
        report.heldout_slices = (z_split, len(labels))
        pred = np.concatenate(list(seg.segment(held_img, device=device)))
        report.scores = [scores(pred, held_lab, settings.classes, "U-Net", ignore),
                         scores(otsu(held_img, tr_img, tr_lab, n, ignore), held_lab, settings.classes, "Otsu", ignore),
                         scores(sauvola(held_img, tr_img, tr_lab, n, ignore), held_lab, settings.classes, "Sauvola", ignore)]
    return seg, report


# ---------------------------------------------------------------- model and inference
class Segmenter:
    """A trained network with its settings; :meth:`segment` streams labels slab by slab."""

    def __init__(self, settings: SegmenterSettings, net: torch.nn.Module):
        self.settings = settings
        self.net = net.eval()

    def save(self, path: str | Path) -> Path:
        """Weights and settings in one ``torch.save`` file (written atomically)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".part")
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        torch.save({"format": FORMAT, "settings": asdict(self.settings), "state_dict": state}, tmp)
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Segmenter:
        p = Path(path)
        if not p.exists():
            raise DatarialError(f"--model {p}: no such file")
        try:
            blob = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise DatarialError(f"--model {p}: not a saved datarial model ({exc})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise DatarialError(f"--model {p}: not a saved datarial model (expected format {FORMAT})")
        raw = blob["settings"]
        settings = SegmenterSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        net = settings.network()
        net.load_state_dict(blob["state_dict"])
        return cls(settings, net)

    def segment(self, volume, device: str = "cpu", overlap: float = 0.5, batch: int = 8, chunk: int = 32,
                progress: Progress = None) -> Iterator[np.ndarray]:
        """Class-index slabs (uint8, z-slices in order) of ``volume`` (an array or a :class:`LazyVolume`).

        2D models see ``chunk`` slices at a time; 3D models see slabs of ``chunk``
        slices plus a margin of half a window on each side, so slab borders get the
        same context as the inside.  Windows overlap by ``overlap`` (Gaussian blend).
        """
        inferers = need("monai.inferers")
        dev = resolve_device(device)
        net = self.net.to(dev)
        s = self.settings
        nz = int(volume.shape[0])
        chunk = max(1, int(chunk))
        halo = s.patch[0] // 2 if s.dim == 3 else 0
        done = 0
        with torch.inference_mode():
            for z0 in range(0, nz, chunk):
                z1 = min(nz, z0 + chunk)
                a, b = max(0, z0 - halo), min(nz, z1 + halo)
                block = (np.asarray(volume[a:b], dtype=np.float32) - s.mean) / s.std
                x = torch.from_numpy(block).to(dev)
                x = x[:, None] if s.dim == 2 else x[None, None]
                roi = list(s.patch)
                logits = inferers.sliding_window_inference(x, roi, batch, net, overlap=overlap, mode="gaussian",
                                                           padding_mode="replicate")
                lab = logits.argmax(1).to(torch.uint8).cpu().numpy()
                lab = lab if s.dim == 2 else lab[0]
                yield lab[z0 - a:z0 - a + (z1 - z0)]
                done = z1
                if progress:
                    progress(done, nz)
        self.net = net.cpu()
