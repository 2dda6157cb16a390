"""TEST-ONLY stand-in for ``torchvision``: never shipped, never used when the real one imports.

It provides only what ``segment_anything`` imports (see ``README.md`` beside this
package): :func:`torchvision.ops.boxes.batched_nms`, :func:`torchvision.ops.boxes.box_area`,
:func:`torchvision.transforms.functional.resize` and
:func:`torchvision.transforms.functional.to_pil_image`. ``tests/sources/conftest.py``
puts it on ``sys.path`` only when ``import torchvision`` fails.
"""

from . import ops, transforms

__version__ = "0.0.0+liftstudio.test.standin"
STANDIN = True

__all__ = ["STANDIN", "ops", "transforms"]
