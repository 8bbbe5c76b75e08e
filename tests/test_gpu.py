"""The same runs on a CUDA GPU as on the CPU: sintering solver and U-Net segmentation.

Skipped without a GPU (CI has none).  On a GPU machine:
``PYTHONPATH=src python -m pytest --noconftest tests/test_gpu.py`` (this file needs
neither the database nor the CLI, so it runs without the fixtures of conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datarial.sinter.model import Parameters
from datarial.sinter.packing import from_labels, random_packing
from datarial.sinter.solver import Simulation, SolverSettings, initial_state, measures

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _pair(packing, t_end, params=None, anisotropy=None, **settings):
    """The same run on the CPU and on the GPU; returns both simulations."""
    out = []
    for device in ("cpu", "cuda"):
        s = SolverSettings(device=device, **settings)
        sim = Simulation(initial_state(packing, s), params or Parameters(), s, anisotropy=anisotropy)
        sim.run(t_end)
        out.append(sim)
    return out


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.cpu() - b.cpu()).abs().max())


@pytest.mark.parametrize("method, order, boundary, scheme, stabiliser", [
    ("spectral", 1, "periodic", "split", 1.0), ("spectral", 2, "periodic", "split", 1.0),
    ("spectral", 2, "zero-flux", "split", 1.0), ("spectral", 1, "periodic", "sbdf2", 1.0),
    ("spectral", 2, "zero-flux", "sbdf2", 1.0), ("spectral", 1, "periodic", "sbdf2", 0.6),
    ("explicit", 1, "periodic", "split", 1.0), ("explicit", 1, "zero-flux", "split", 1.0)])
def test_gpu_run_matches_the_cpu_run_in_float64(method, order, boundary, scheme, stabiliser):
    """A 2D packing with rigid-body motion, adaptive spectral steps (or fixed explicit ones), field
    remapping on (the CPU's owner maps by numba, the GPU's by torch), either grain-field scheme, either density
    stabiliser: the GPU's ρ and η equal the CPU's to round-off, and so do the grains' centres."""
    pk = random_packing((96, 96), 12, 11.0, seed=5, overlap=0.15)
    params = Parameters(k_st=10.0, m_tr=50.0)
    cpu, gpu = _pair(pk, 2.0, params, method=method, order=order, boundary=boundary, eta_scheme=scheme,
                     rho_stabiliser=stabiliser, dt=0.002 if method == "explicit" else 0.05,
                     adaptive=method == "spectral")
    assert gpu.state.rho.is_cuda and gpu.state.eta.is_cuda
    assert cpu.state.steps == gpu.state.steps
    assert _max_diff(cpu.state.rho, gpu.state.rho) < 1e-9
    assert _max_diff(cpu.state.eta, gpu.state.eta) < 1e-9
    assert np.abs(cpu.state.grains.centre - gpu.state.grains.centre).max() < 1e-8
    m_cpu, m_gpu = measures(cpu.state), measures(gpu.state)
    assert m_gpu.hull_volume == pytest.approx(m_cpu.hull_volume, abs=1e-6)
    assert m_gpu.grains == m_cpu.grains
    mass0 = float(initial_state(pk, SolverSettings(boundary=boundary)).rho.sum())
    assert float(gpu.state.rho.sum()) == pytest.approx(mass0, rel=1e-10)


def test_gpu_float32_run_keeps_mass_and_follows_float64():
    pk = random_packing((128, 128), 16, 12.0, seed=2, overlap=0.15)
    cpu64, _ = _pair(pk, 4.0, dt=0.1, adaptive=False, order=2)
    _, gpu32 = _pair(pk, 4.0, dt=0.1, adaptive=False, order=2, dtype="float32")
    assert gpu32.state.rho.dtype == torch.float32
    mass0 = float(initial_state(pk, SolverSettings(dtype="float32")).rho.double().sum())
    assert float(gpu32.state.rho.double().sum()) == pytest.approx(mass0, rel=1e-5)
    assert _max_diff(cpu64.state.rho, gpu32.state.rho.double()) < 1e-3


@pytest.mark.parametrize("boundary", ["periodic", "zero-flux"])
def test_gpu_anisotropic_run_matches_the_cpu_run(boundary):
    """Anisotropic surface energy takes ξ = ∂e/∂∇ρ by autograd: the same on the GPU."""
    y, x = np.mgrid[:40, :56]
    lab = np.zeros((40, 56), int)
    lab[(y - 19.5) ** 2 + x**2 <= 12**2] = 1
    lab[(y - 19.5) ** 2 + (x - 30) ** 2 <= 10**2] = 2
    pk = from_labels(lab, seed=3)
    k = np.array([1.0, 0.3, 0.2, 0.4])
    cpu, gpu = _pair(pk, 1.0, Parameters(M_vol=0.0, M_vap=0.0), anisotropy=k, boundary=boundary, dt=0.01,
                     adaptive=False)
    assert _max_diff(cpu.state.rho, gpu.state.rho) < 1e-9
    assert _max_diff(cpu.state.eta, gpu.state.eta) < 1e-9


def test_gpu_3d_packing_matches_the_cpu_run():
    pk = random_packing((48, 48, 48), 12, 7.0, seed=4, overlap=0.15)
    cpu, gpu = _pair(pk, 1.0, Parameters(k_st=10.0, m_tr=50.0), dt=0.1, adaptive=False, order=2)
    assert _max_diff(cpu.state.rho, gpu.state.rho) < 1e-9
    assert _max_diff(cpu.state.eta, gpu.state.eta) < 1e-9


def test_gpu_holds_732_grains_on_128_cubed_in_few_fields():
    """The Ba122 case: 732 grains on 128³ in float32, stepped on the GPU, in far fewer fields than grains."""
    pk = random_packing((128, 128, 128), 732, 4.0, seed=1, overlap=0.1)
    s = SolverSettings(dtype="float32", device="cuda", dt=0.1, adaptive=False)
    torch.cuda.reset_peak_memory_stats()
    sim = Simulation(initial_state(pk, s), Parameters(), s)
    mass0 = float(sim.state.rho.double().sum())
    for _ in range(3):
        sim.step()
    torch.cuda.synchronize()
    assert sim.state.eta.shape[0] <= 40
    assert float(sim.state.rho.double().sum()) == pytest.approx(mass0, rel=1e-5)
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"732 grains, 128³, float32: {sim.state.eta.shape[0]} fields, peak GPU memory {peak:.2f} GiB")
    full = 732 * 128**3 * 4 / 2**30  # one float32 field per grain: η alone
    assert peak < full


def test_gpu_unet_trains_segments_and_the_saved_model_runs_on_the_cpu(tmp_path):
    pytest.importorskip("monai")
    from datarial.micro.segment import Segmenter, scores, train
    from datarial.micro.synthetic import fib_sem_series, sintered_particles

    classes = ("pore", "phase")
    v = sintered_particles((12, 64, 64), density=0.6, radius=(10.0, 18.0), closed_pores=0, seed=0)
    s = fib_sem_series(v.labels, seed=0)
    seg, rep = train(s.image, s.labels, classes, steps=60, batch=8, device="cuda")
    assert len(rep.losses) == 60 and rep.heldout_slices is not None
    on_gpu = np.concatenate(list(seg.segment(s.image, device="cuda")))
    assert not next(seg.net.parameters()).is_cuda  # the network goes back to the CPU after a run
    assert scores(on_gpu, s.labels, classes, "U-Net").mean_iou > 0.8
    seg.save(tmp_path / "m.pt")
    on_cpu = np.concatenate(list(Segmenter.load(tmp_path / "m.pt").segment(s.image, device="cpu")))
    assert (on_cpu == on_gpu).mean() > 0.999
