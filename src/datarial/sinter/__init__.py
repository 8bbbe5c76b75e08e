"""Sintering simulation: a Wang-type phase-field model (density + grain order parameters)
with rigid-body motion, anisotropic surface energy and data assimilation.

Runs on PyTorch tensors, so the same code uses the CPU or a GPU.
"""
