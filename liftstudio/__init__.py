"""LiftStudio: segment trained 3D Gaussian Splatting scenes into instances.

The package reads as a map of the product:

- ``scene``: Gaussians, cameras and images; file formats; scene folder discovery.
- ``evaluate``: generated scenes and benchmarks.
- ``cli``: the command line, a face of the same core functions the app uses.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liftstudio")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
