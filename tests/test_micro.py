"""Microstructure volumes: I/O with voxel sizes, 3D measures against analytic shapes, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datarial.cli.main import main
from datarial.errors import DatarialError
from datarial.micro.io import parse_voxel_size, read_volume, write_volume
from datarial.micro.quantify import (
    local_thickness,
    local_thickness_dilation,
    open_pores,
    quantify,
    skeleton_length,
    surface_area,
)
from datarial.micro.synthetic import PHASE, PORE, fib_sem_render, sintered_particles

N = 64
Z, Y, X = np.mgrid[:N, :N, :N]


def ball(r: float, c=(32, 32, 32)) -> np.ndarray:
    return (Z - c[0]) ** 2 + (Y - c[1]) ** 2 + (X - c[2]) ** 2 <= r**2


# ---------------------------------------------------------------- local thickness on analytic shapes
@pytest.mark.parametrize("thickness", [6, 10, 17])
def test_slab_thickness_within_one_voxel(thickness):
    slab = (Z >= 20) & (Z < 20 + thickness)
    lt = local_thickness(slab, bins=60)
    assert np.median(lt[slab]) == pytest.approx(thickness, abs=1.0)


@pytest.mark.parametrize("radius", [8, 14, 20])
def test_ball_and_cylinder_thickness_within_one_voxel(radius):
    b = ball(radius)
    assert np.median(local_thickness(b, bins=60)[b]) == pytest.approx(2 * radius, abs=1.2)
    cyl = ((Y - 32) ** 2 + (X - 32) ** 2 <= radius**2)
    assert np.median(local_thickness(cyl, bins=60)[cyl]) == pytest.approx(2 * radius, abs=1.2)


def test_thickness_of_two_joined_balls_keeps_each_ball_its_own_size():
    big, small = ball(14, (32, 32, 20)), ball(6, (32, 32, 40))
    lt = local_thickness(big | small, bins=60)
    assert np.median(lt[big]) == pytest.approx(28, abs=1.2)
    assert np.median(lt[small & ~big]) == pytest.approx(12, abs=1.5)


def test_anisotropic_voxels_give_the_same_physical_thickness():
    slab = (Z >= 10) & (Z < 30)  # 20 voxels thick along z
    lt = local_thickness(slab[::2], voxel_size=(2.0, 1.0, 1.0), bins=60)  # every other slice, 2 units thick
    assert np.median(lt[slab[::2]]) == pytest.approx(20, abs=1.0)


@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.0, 0.5, 0.7)])
@pytest.mark.parametrize("bins", [7, 25])
def test_sphere_insertion_equals_one_dilation_per_bin(voxel, bins):
    """The crescent painting is an exact rewrite of the dilation definition, voxel for voxel."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.standard_normal((48, 56, 40)), 2.5)
    solid = field < np.quantile(field, 0.6)
    fast = local_thickness(solid, voxel, bins=bins)
    ref = local_thickness_dilation(solid, voxel, bins=bins)
    assert np.array_equal(fast, ref)
    assert fast[solid].min() > 0 and not fast[~solid].any()


def test_thickness_of_a_phase_without_boundary_is_undefined():
    assert np.isnan(local_thickness(np.ones((6, 6, 6), bool))).all()
    assert not local_thickness(np.zeros((6, 6, 6), bool)).any()


# ---------------------------------------------------------------- porosity, surfaces, skeletons
def test_open_and_closed_pores():
    solid = np.ones((N, N, N), bool)
    solid[ball(5, (32, 32, 32))] = False  # closed pore in the middle
    solid[(Y - 10) ** 2 + (X - 10) ** 2 <= 9] = False  # channel through the whole sample
    opened, n_open, n_closed = open_pores(~solid)
    assert (n_open, n_closed) == (1, 1)
    assert opened[0, 10, 10] and not opened[32, 32, 32]


@pytest.mark.parametrize("radius", [8, 20])
def test_sphere_surface_area_within_two_percent(radius):
    b = ball(radius)
    r_eq = (3 * b.sum() / (4 * np.pi)) ** (1 / 3)  # the digital ball's equivalent radius
    assert surface_area(b, voxel_size=(0.5, 0.5, 0.5)) == pytest.approx(4 * np.pi * (0.5 * r_eq) ** 2, rel=0.02)


def test_skeleton_length_of_a_rod():
    rod = ((Y - 31) ** 2 + (X - 31) ** 2 <= 16) & (Z >= 4) & (Z < 60)  # 56 voxels long
    assert skeleton_length(rod, voxel_size=(2.0, 1.0, 1.0)) == pytest.approx(2 * 56, rel=0.15)


def test_quantify_matches_the_ground_truth_of_a_synthetic_sintered_volume():
    v = sintered_particles((64, 64, 64), density=0.6, closed_pores=8, seed=3)
    q = quantify(v.labels, (40e-9, 20e-9, 20e-9))
    truth_porosity = float(np.mean(v.labels == PORE))
    assert q.value("porosity") == pytest.approx(truth_porosity)
    assert q.value("volume fraction phase (label 1)") == pytest.approx(np.mean(v.labels == PHASE))
    assert q.value("open-pore fraction of pore volume") > 0.95  # particle packings are open
    assert q.value("closed pores") >= 1
    # Mean thickness lies between the smallest and largest particle diameters (µm; 20 nm voxels).
    assert 0.02 * 2 * 4 < q.value("phase local thickness (sphere diameter), mean") < 0.02 * 2 * 10.5
    units = dict(zip(q.frame().measure, q.frame().unit, strict=True))
    assert units["pore surface area per volume"] == "1/µm" and units["open porosity"] == "1"


def test_quantify_refuses_a_missing_phase_label():
    with pytest.raises(DatarialError, match="--phase 3"):
        quantify(np.zeros((4, 4, 4), np.uint8), (1e-6,) * 3, phase=3)


def test_fib_sem_rendering_keeps_phase_contrast():
    v = sintered_particles((32, 48, 48), density=0.6, seed=0)
    img = fib_sem_render(v.labels, seed=1)
    assert img.dtype == np.float32 and img.shape == v.labels.shape
    assert img[v.labels == PHASE].mean() - img[v.labels == PORE].mean() > 0.3


# ---------------------------------------------------------------- I/O
def test_voxel_size_parsing_orders_z_y_x():
    assert parse_voxel_size("20nm,20nm,40nm") == pytest.approx((40e-9, 20e-9, 20e-9))
    assert parse_voxel_size("0.05um") == pytest.approx((5e-8,) * 3)
    with pytest.raises(DatarialError, match="--voxel-size"):
        parse_voxel_size("20nm,40nm")
    with pytest.raises(DatarialError, match="no unit"):
        parse_voxel_size("20")


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".zarr"])
def test_volume_round_trip(tmp_path: Path, suffix):
    data = sintered_particles((8, 16, 16), density=0.5, seed=2).labels
    path = write_volume(tmp_path / f"v{suffix}", data, voxel_size=(40e-9, 20e-9, 20e-9))
    assert np.array_equal(read_volume(path).data, data)


def test_folder_of_png_slices_is_read_in_natural_order(tmp_path: Path):
    from skimage.io import imsave

    for k in range(12):  # 10 must come after 9
        imsave(tmp_path / f"slice_{k}.png", np.full((5, 6), k * 10, np.uint8), check_contrast=False)
    vol = read_volume(tmp_path)
    assert vol.shape == (12, 5, 6) and vol.data[:, 0, 0].tolist() == [k * 10 for k in range(12)]


def test_hdf5_dataset_is_found_or_must_be_named(tmp_path: Path):
    import h5py

    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["scan/labels"] = np.ones((3, 4, 5), np.uint8)
        f["scan/raw"] = np.zeros((3, 4, 5), np.uint8)
    with pytest.raises(DatarialError, match="--dataset"):
        read_volume(tmp_path / "v.h5")
    assert read_volume(tmp_path / "v.h5", dataset="scan/labels").data.sum() == 60


def test_unreadable_files_name_the_file(tmp_path: Path):
    bad = tmp_path / "labels.tif"
    bad.write_text("not a tiff")
    with pytest.raises(DatarialError, match="labels.tif"):
        read_volume(bad)


# ---------------------------------------------------------------- CLI
def test_cli_quantify_writes_summary_and_plots(tmp_path: Path, capsys):
    v = sintered_particles((32, 48, 48), density=0.6, seed=5)
    path = write_volume(tmp_path / "labels.tif", v.labels)
    code = main(["micro", "quantify", str(path), "--voxel-size", "20nm,20nm,40nm", "--out", str(tmp_path / "s.csv"),
                 "--plots", str(tmp_path / "plots")])
    assert code == 0
    frame = pd.read_csv(tmp_path / "s.csv")
    row = frame.set_index("measure").loc["porosity"]
    assert row["value"] == pytest.approx(np.mean(v.labels == 0)) and row["unit"] == "1"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["labels-distributions.png",
                                                                        "labels-thickness-slice.png"]


def test_cli_quantify_bad_voxel_size_exits_2(tmp_path: Path, capsys):
    path = write_volume(tmp_path / "labels.npy", np.ones((4, 4, 4), np.uint8))
    assert main(["micro", "quantify", str(path), "--voxel-size", "20 parsecs"]) == 2
    assert "--voxel-size" in capsys.readouterr().err


# ---------------------------------------------------------------- 2D sections
def test_section_measures_discs_perimeters_and_open_pores():
    n = 128
    y, x = np.mgrid[:n, :n]
    labels = np.ones((n, n), int)
    labels[(y - 64) ** 2 + (x - 64) ** 2 <= 20**2] = 0  # closed round pore, radius 20 px
    labels[:, :6] = 0  # a pore band open to the image edge
    q = quantify(labels, (1e-6, 0.5e-6, 0.5e-6))  # a 2D array: 0.5 µm pixels
    assert q.value("porosity") == pytest.approx(np.mean(labels == 0))
    assert (q.value("open pores"), q.value("closed pores")) == (1, 1)
    assert q.value("open-pore fraction of pore area") == pytest.approx(6 * n / np.sum(labels == 0))
    # perimeter: the circle 2π·20 px plus the band's inner edge (its image-edge sides count too)
    circle = 2 * np.pi * 20 * 0.5
    assert q.value("pore perimeter") == pytest.approx(circle + 2 * (n + 6) * 0.5 - 2 * 0.5, rel=0.03)
    band = np.sqrt(4 * 6 * n * 0.25 / np.pi)
    assert sorted(q.pore_diameters) == pytest.approx(sorted([2 * 20 * 0.5, band]), rel=0.02)  # equivalent circles
    # a 20-px-wide strip of phase between two pores has a local thickness of 20 px = 10 µm
    strip = np.zeros((64, 64), int)
    strip[:, 22:42] = 1
    t = quantify(strip, (1e-6, 0.5e-6, 0.5e-6))
    assert t.value("phase local thickness, median") == pytest.approx(10.0, abs=0.5)
    assert "phase local thickness (disc diameter), mean" in set(t.frame()["measure"])


def test_cli_quantify_a_2d_image(tmp_path: Path, capsys):
    tifffile = pytest.importorskip("tifffile")
    img = np.zeros((64, 64), np.uint8)
    img[:, 20:44] = 1
    tifffile.imwrite(tmp_path / "section.tif", img)
    code = main(["micro", "quantify", str(tmp_path / "section.tif"), "--voxel-size", "50nm",
                 "--out", str(tmp_path / "s.csv"), "--plots", str(tmp_path / "plots")])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "s.csv")
    row = table[table["measure"] == "phase local thickness, median"].iloc[0]
    assert row["value"] == pytest.approx(24 * 0.05, abs=0.06) and row["unit"] == "µm"
    assert "area fraction phase (label 1)" in set(table["measure"])
