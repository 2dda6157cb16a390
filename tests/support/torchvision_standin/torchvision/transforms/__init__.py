"""TEST-ONLY stand-in for ``torchvision.transforms`` (``functional.resize``/``to_pil_image``)."""

from . import functional

__all__ = ["functional"]
