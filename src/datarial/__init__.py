"""datarial: data-driven materials process design.

The package is organised by area (see ``docs/``):

* :mod:`datarial.space` — search spaces, constraints, grids.
* :mod:`datarial.campaign` — the campaign facade (experiments, proposals, history).
* :mod:`datarial.optimize` — Gaussian-process surrogate, acquisition, batch proposal.
* :mod:`datarial.store` — the shared experiment database (SQLAlchemy + Alembic).
* :mod:`datarial.io` — file formats (CSV/Excel experiment tables).
"""

from datarial.errors import DatarialError

__all__ = ["DatarialError", "__version__"]
__version__ = "0.1.0"
