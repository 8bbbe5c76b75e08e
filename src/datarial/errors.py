"""One exception family for every user-facing failure.

The CLI prints ``DatarialError`` messages on one line and exits with status 2;
the REST API maps them to 4xx responses.  Anything else is a bug.
"""

from __future__ import annotations


class DatarialError(Exception):
    """Base class: a mistake in user input or a request that cannot be met."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SpaceError(DatarialError):
    """An invalid search-space definition (names the offending field)."""


class ConstraintError(SpaceError):
    """A constraint expression that cannot be parsed or is not linear."""


class DataFileError(DatarialError):
    """A data file that cannot be read (names the file, row and column)."""


class NotFoundError(DatarialError):
    """A campaign, experiment or proposal that does not exist."""


class ConflictError(DatarialError):
    """A request that conflicts with stored state (e.g. campaign exists already)."""


class ProposalError(DatarialError):
    """The optimizer cannot propose what was asked (e.g. too few feasible points)."""


class StoreError(DatarialError):
    """The database cannot be opened or migrated."""
