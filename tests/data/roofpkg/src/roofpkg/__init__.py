"""roofpkg: an example third-party cost model package for dse (see ``roofpkg.model``)."""

from roofpkg.model import Roofline


__all__ = ["Roofline"]
