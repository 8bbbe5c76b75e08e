"""Segmentation of FIB-SEM volumes: scores, baselines, streaming I/O, U-Net training and inference, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datarial.cli.main import main
from datarial.errors import DatarialError
from datarial.micro.io import LazyVolume, read_volume, write_volume, write_volume_slabs
from datarial.micro.segment import Segmenter, otsu, sauvola, scores, split_slices, train
from datarial.micro.synthetic import fib_sem_series, sintered_particles

CLASSES = ("pore", "phase")


def two_phase(shape=(12, 64, 64), seed=0, **render):
    v = sintered_particles(shape, density=0.6, radius=(10.0, 18.0), closed_pores=0, seed=seed)
    s = fib_sem_series(v.labels, seed=seed, **render)
    return s.image, s.labels


# ---------------------------------------------------------------- scores
def test_scores_by_hand_and_ignored_voxels():
    truth = np.array([0, 0, 1, 1, 1, 255])
    pred = np.array([0, 1, 1, 1, 0, 0])
    s = scores(pred, truth, CLASSES, "x")
    # pore: P={0,4}, T={0,1} → ∩ 1, ∪ 3; phase: P={1,2,3}, T={2,3,4} → ∩ 2, ∪ 4
    assert s.iou == pytest.approx({"pore": 1 / 3, "phase": 2 / 4})
    assert s.dice == pytest.approx({"pore": 2 / 4, "phase": 4 / 6})
    assert s.mean_iou == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_scores_refuse_labels_beyond_the_named_classes():
    with pytest.raises(DatarialError, match="class 2"):
        scores(np.zeros(3), np.array([0, 1, 2]), CLASSES, "x")


# ---------------------------------------------------------------- synthetic truth and baselines
def test_misaligned_series_keeps_labels_in_register_with_the_image():
    img, lab = two_phase(noise=0, blur=0, curtaining=0, drift=0, misalignment=1.0)
    assert scores((img > 0.45).astype(np.uint8), lab, CLASSES, "t").mean_iou > 0.99
    v = sintered_particles((12, 64, 64), density=0.6, radius=(10.0, 18.0), closed_pores=0, seed=0)
    assert not np.array_equal(lab, v.labels)  # the slices did move


def test_otsu_and_sauvola_on_a_clean_image():
    img, lab = two_phase(noise=0.02, curtaining=0, drift=0, misalignment=0)
    assert scores(otsu(img, img, lab, 2), lab, CLASSES, "t").mean_iou > 0.97
    # Sauvola misreads the inside of pores wider than its window (a known weakness of local thresholds)
    assert scores(sauvola(img, img, lab, 2), lab, CLASSES, "t").mean_iou > 0.85


def test_otsu_orders_three_classes_by_grey_level():
    lab = np.zeros((2, 30, 30), np.uint8)
    lab[:, :, 10:20], lab[:, :, 20:] = 1, 2
    img = np.array([0.1, 0.9, 0.5], np.float32)[lab]  # phase brightest, impurity in between
    assert np.array_equal(otsu(img, img, lab, 3), lab)


def test_sauvola_finds_small_dark_pores_in_two_bright_phases():
    lab = np.ones((2, 60, 60), np.uint8)
    lab[1] = 2  # one slice of phase, one of impurity, each with small pores
    lab[:, 4::10, 4::10] = lab[:, 5::10, 5::10] = 0  # small pores
    img = np.array([0.1, 0.9, 0.5], np.float32)[lab] + np.random.default_rng(0).normal(0, 0.02, lab.shape)
    pred = sauvola(img.astype(np.float32), img, lab, 3, window=9)
    assert scores(pred, lab, ("pore", "phase", "impurity"), "t").mean_iou > 0.8


def test_heldout_split_takes_the_last_labelled_slices():
    lab = np.full((20, 4, 4), 255)
    lab[[2, 5, 9, 14, 17]] = 1
    assert split_slices(lab, 0.2) == 17
    assert split_slices(lab, 0.4) == 14
    assert split_slices(lab, 0) == 20
    with pytest.raises(DatarialError, match="no labelled voxels"):
        split_slices(np.full((3, 4, 4), 255), 0.2)


# ---------------------------------------------------------------- streaming volumes
@pytest.mark.parametrize("suffix", [".tif", ".npy", ".zarr"])
def test_slab_writer_round_trip_and_lazy_reads(tmp_path: Path, suffix):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 3, (11, 17, 13)).astype(np.uint8)
    path = write_volume_slabs(tmp_path / f"v{suffix}", (data[z:z + 4] for z in range(0, 11, 4)), data.shape,
                              np.uint8, (40e-9, 20e-9, 20e-9), chunk_z=3)
    assert np.array_equal(read_volume(path).data, data)
    with LazyVolume(path) as lazy:
        assert lazy.shape == data.shape
        assert np.array_equal(lazy[3:7], data[3:7])
    assert not list(tmp_path.glob("*.part"))


def test_lazy_volume_reads_h5_and_slice_folders(tmp_path: Path):
    import h5py

    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["scan/grey"] = data
    with LazyVolume(tmp_path / "v.h5") as lazy:
        assert np.array_equal(lazy[1:3], data[1:3])
    folder = tmp_path / "slices"
    folder.mkdir()
    for k in range(4):
        write_volume(folder / f"s{k + 1}.tif", data[k:k + 1])
    (folder / "s10.tif").write_bytes((folder / "s1.tif").read_bytes())  # natural order: s10 last
    with LazyVolume(folder) as lazy:
        assert lazy.shape == (5, 5, 6)
        assert np.array_equal(lazy[1:4], data[1:4])
        assert np.array_equal(lazy[4], data[0])


def test_slab_writer_leaves_nothing_when_the_stream_fails(tmp_path: Path):
    def slabs():
        yield np.zeros((2, 4, 4), np.uint8)
        raise RuntimeError("network went away")

    with pytest.raises(RuntimeError):
        write_volume_slabs(tmp_path / "v.tif", slabs(), (5, 4, 4), np.uint8)
    with pytest.raises(DatarialError, match="got 2 slices"):
        write_volume_slabs(tmp_path / "v.zarr", iter([np.zeros((2, 4, 4))]), (5, 4, 4), np.uint8)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- training and inference
def test_train_refuses_bad_inputs():
    img, lab = two_phase((4, 32, 32))
    with pytest.raises(DatarialError, match="shape"):
        train(img, lab[:3], CLASSES, steps=1)
    bad = lab.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(DatarialError, match=r"values \[7\]"):
        train(img, bad, CLASSES, steps=1)
    with pytest.raises(DatarialError, match="multiple of 8"):
        train(img, lab, CLASSES, steps=1, patch=(30, 30))


def test_saved_model_predicts_like_the_trained_one_and_2d_chunks_do_not_matter(tmp_path: Path):
    img, lab = two_phase((8, 48, 40))
    seg, rep = train(img, lab, CLASSES, dim=2, steps=3, batch=4, patch=(32, 32), holdout=0.25)
    assert len(rep.losses) == 3 and [s.method for s in rep.scores] == ["U-Net", "Otsu", "Sauvola"]
    assert rep.heldout_slices == (6, 8)
    loaded = Segmenter.load(seg.save(tmp_path / "m.pt"))
    assert loaded.settings == seg.settings
    whole = np.concatenate(list(seg.segment(img, chunk=100)))
    assert np.array_equal(np.concatenate(list(loaded.segment(img, chunk=3))), whole)
    assert whole.shape == img.shape and whole.dtype == np.uint8


def test_3d_model_streams_slabs_with_margins():
    img, lab = two_phase((20, 32, 32))
    seg, _ = train(img, lab, CLASSES, dim=3, steps=2, batch=2, patch=(16, 16, 16), holdout=0)
    done = []
    slabs = list(seg.segment(img, chunk=6, progress=lambda d, n: done.append((d, n))))
    assert [len(s) for s in slabs] == [6, 6, 6, 2]
    assert done[-1] == (20, 20)


def test_load_refuses_a_file_that_is_no_model(tmp_path: Path):
    import torch

    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(DatarialError, match="not a saved datarial model"):
        Segmenter.load(tmp_path / "x.pt")
    with pytest.raises(DatarialError, match="no such file"):
        Segmenter.load(tmp_path / "missing.pt")


def test_cuda_request_without_gpu_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    img, lab = two_phase((4, 32, 32))
    with pytest.raises(DatarialError, match="no CUDA GPU"):
        train(img, lab, CLASSES, steps=1, device="cuda")


@pytest.mark.slow
def test_unet_reaches_iou_0946_on_an_unseen_synthetic_volume():
    """Acceptance: trained on one rendered volume, scored on another (other particles, other noise)."""
    img, lab = two_phase((40, 128, 128), seed=0)
    seg, rep = train(img, lab, CLASSES, dim=2, steps=300, batch=16, seed=0)
    test_img, test_lab = two_phase((40, 128, 128), seed=1)
    pred = np.concatenate(list(seg.segment(test_img)))
    unet = scores(pred, test_lab, CLASSES, "U-Net")
    base = scores(otsu(test_img, img, lab, 2), test_lab, CLASSES, "Otsu")
    assert min(unet.iou.values()) >= 0.946, unet.iou
    assert unet.mean_iou > base.mean_iou + 0.02


# ---------------------------------------------------------------- CLI
def test_cli_train_and_segment(tmp_path: Path, capsys):
    img, lab = two_phase((10, 48, 48))
    lab = lab.copy()
    lab[1::2] = 255  # only every other slice labelled
    write_volume(tmp_path / "img.tif", (img * 255).astype(np.uint8))
    write_volume(tmp_path / "lab.tif", lab)
    code = main(["micro", "train", "--images", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"),
                 "--steps", "2", "--batch", "2", "--patch", "32,32", "--out", str(tmp_path / "m.pt"),
                 "--report", str(tmp_path / "r.csv"), "--plots", str(tmp_path / "plots")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Held-out slices z = 8…9" in out and "Sauvola" in out
    assert (tmp_path / "r.csv").read_text().startswith("method,class,IoU,Dice")
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"m-loss.png", "m-heldout.png"}
    code = main(["micro", "segment", str(tmp_path / "img.tif"), "--model", str(tmp_path / "m.pt"),
                 "--out", str(tmp_path / "seg.zarr"), "--chunk", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert read_volume(tmp_path / "seg.zarr").data.shape == img.shape
    assert "pore:" in out and "% of voxels" in out


def test_cli_train_names_the_bad_option(tmp_path: Path, capsys):
    img, lab = two_phase((4, 32, 32))
    write_volume(tmp_path / "img.tif", img)
    write_volume(tmp_path / "lab.tif", lab[:2])
    args = ["micro", "train", "--images", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"),
            "--out", str(tmp_path / "m.pt")]
    assert main(args) == 2
    assert "--labels" in capsys.readouterr().err
    assert main([*args[:-1], str(tmp_path / "m.pkl")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["micro", "segment", str(tmp_path / "img.tif"), "--model", str(tmp_path / "none.pt"),
                 "--out", str(tmp_path / "s.tif")]) == 2
    assert "--model" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "s.tif").exists()
