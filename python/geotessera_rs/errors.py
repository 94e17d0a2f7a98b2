"""Exceptions of geotessera_rs.

Every class derives from :class:`TesseraError` and from the builtin class that the
reference package (geotessera 0.11) raises for the same mistake, so ``except ValueError``
or ``except OSError`` written for geotessera keeps working.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "TesseraError",
    "UsageError",
    "HTTPStatusError",
    "TileNotFoundError",
    "NetworkError",
    "IntegrityError",
    "UnwritableDestination",
    "FormatError",
    "NoDataError",
    "RegionOutsideError",
]


class TesseraError(Exception):
    """Base class of every error raised by geotessera_rs."""


class UsageError(TesseraError, ValueError):
    """Input the caller can fix: a bad bbox, coordinates, dataset, option."""


class HTTPStatusError(TesseraError, OSError):
    """An HTTP status that retries did not cure, such as 403 or 404."""

    def __init__(self, url: str, status: int, reason: Optional[str] = None):
        super().__init__(f"HTTP {status} {reason or ''} for {url}".rstrip())
        self.url = url
        self.status = status

    def __reduce__(self):  # keep url/status through pickling (multiprocessing)
        return (type(self), (self.url, self.status))


class TileNotFoundError(TesseraError, FileNotFoundError):
    """A tile or file that is not on disk (offline mode) or not in the registry."""


class NetworkError(TesseraError, ConnectionError):
    """The network failed (connection refused, reset, timeout) after retries."""


class IntegrityError(TesseraError, OSError):
    """Received bytes did not match the mirror's length or checksum."""


class UnwritableDestination(TesseraError, OSError):
    """A destination that cannot be written (read-only, no permission, full disk)."""


class FormatError(TesseraError, RuntimeError):
    """A file or response in a format that cannot be read."""


class NoDataError(TesseraError, ValueError):
    """What was asked for does not exist (a year, a region without tiles)."""


class RegionOutsideError(TesseraError, IndexError):
    """A region that does not intersect a store's zone grid."""
