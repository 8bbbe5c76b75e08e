"""Superconductor measurements: Jc from magnetization loops, Tc, flux creep, trapped field."""
