"""``install_as_geotessera()``: run scripts written for geotessera unchanged."""

from __future__ import annotations

import importlib
import sys

__all__ = ["install_as_geotessera"]

# geotessera module name -> geotessera_rs module providing it
_ALIASES = {
    "geotessera": "geotessera_rs",
    "geotessera.registry": "geotessera_rs.registry",
    "geotessera.store": "geotessera_rs.store",
    "geotessera.core": "geotessera_rs.core",
    "geotessera.tiles": "geotessera_rs.tiles",
    "geotessera.errors": "geotessera_rs.errors",
    "geotessera.visualization": "geotessera_rs.visualization",
    "geotessera.web": "geotessera_rs.web",
}


def install_as_geotessera() -> None:
    """Make ``import geotessera`` (and its submodules) resolve to geotessera_rs.

    Refuses when the real geotessera is already imported in this process: two packages
    under one name would mix their objects.
    """
    current = sys.modules.get("geotessera")
    if current is not None:
        if getattr(current, "__name__", "") == "geotessera_rs":
            return
        raise RuntimeError(
            "geotessera is already imported in this process; call "
            "geotessera_rs.install_as_geotessera() before any 'import geotessera'"
        )
    for alias, target in _ALIASES.items():
        try:
            sys.modules[alias] = importlib.import_module(target)
        except ImportError:
            # A module that needs an optional dependency is aliased when it imports.
            continue
