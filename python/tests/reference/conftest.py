"""The reference's own tests, run against geotessera_rs: ``import geotessera`` resolves to
our package through ``install_as_geotessera()`` before any test module is imported. This
directory runs in its own interpreter (python/tests/test_reference_suite.py), since the
differential tests import the real geotessera in the main one."""

import geotessera_rs

geotessera_rs.install_as_geotessera()

import geotessera.registry  # noqa: E402

if geotessera.registry.__name__ != "geotessera_rs.registry":
    raise RuntimeError(
        f"geotessera.registry is {geotessera.registry.__name__}, not geotessera_rs.registry"
    )
