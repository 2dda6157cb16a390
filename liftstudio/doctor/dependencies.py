"""Versions of the Python packages LiftStudio uses, read from package metadata.

Nothing is imported to learn a version (torch or PySide6 take seconds to import):
:func:`importlib.metadata.version` reads the installed distribution's metadata, and
:func:`importlib.util.find_spec` tells an importable module without metadata (a
packaged build may drop the metadata) from a missing one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from liftstudio.doctor.installation import SOURCE_INSTALL, Installation
from liftstudio.doctor.report import CheckItem, Status

SECTION = "Dependencies"


@dataclass(frozen=True)
class Dependency:
    """A package LiftStudio imports.

    Attributes
    ----------
    name
        Shown in the report.
    distributions
        Distribution names that provide it, tried in order (PySide6 comes as
        ``PySide6`` or ``PySide6-Essentials``).
    module
        The top-level module it is imported as.
    required
        A missing required package is an error; a missing optional one is "missing".
    purpose
        What it is for (optional packages).
    """

    name: str
    distributions: tuple[str, ...]
    module: str
    required: bool = True
    purpose: str = ""


DEPENDENCIES: tuple[Dependency, ...] = (
    Dependency("numpy", ("numpy",), "numpy"),
    Dependency("scipy", ("scipy",), "scipy"),
    Dependency("torch", ("torch",), "torch"),
    Dependency("numba", ("numba",), "numba"),
    Dependency("llvmlite", ("llvmlite",), "llvmlite"),
    Dependency("plyfile", ("plyfile",), "plyfile"),
    Dependency("pycolmap", ("pycolmap",), "pycolmap"),
    Dependency("PySide6", ("PySide6", "PySide6-Essentials"), "PySide6"),
    Dependency("pyqtgraph", ("pyqtgraph",), "pyqtgraph"),
    Dependency("PyOpenGL", ("PyOpenGL",), "OpenGL"),
    Dependency("scikit-learn", ("scikit-learn",), "sklearn"),
    Dependency("scikit-image", ("scikit-image",), "skimage"),
    Dependency("pycocotools", ("pycocotools",), "pycocotools"),
    Dependency("pillow", ("pillow",), "PIL"),
    Dependency("segment_anything", ("segment-anything",), "segment_anything", False, "SAM masks"),
    Dependency("torchvision", ("torchvision",), "torchvision", False, "SAM masks"),
    Dependency("transformers", ("transformers",), "transformers", False, "DINOv2 features"),
    Dependency("safetensors", ("safetensors",), "safetensors", False, "DINOv2 model files"),
    Dependency("gsplat", ("gsplat",), "gsplat", False, "the CUDA render backend"),
)


def installed_version(dependency: Dependency) -> str | None:
    """The installed version of ``dependency``.

    ``"unknown"`` when it is importable without metadata, None when not installed.
    """
    for distribution in dependency.distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        found = importlib.util.find_spec(dependency.module) is not None
    except (ImportError, ValueError):
        found = False
    return "unknown" if found else None


def sam_install_fix(installation: Installation) -> str:
    """The fix line for a missing segment-anything."""
    return installation.pip("pip install 'liftstudio[sam]'", "SAM")


def dino_install_fix(installation: Installation) -> str:
    """The fix line for a missing transformers / safetensors."""
    return installation.pip("pip install 'liftstudio[dino]'", "DINOv2 features")


def torchvision_install_fix(installation: Installation) -> str:
    """The fix line for a missing torchvision: the build matching the installed torch."""
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    local = torch_version.partition("+")[2] if torch_version else ""
    if local:  # "cpu", "cu121": the index that build of torch came from
        command = (
            f"pip install torchvision --index-url https://download.pytorch.org/whl/{local}  "
            f"(the torchvision release made for torch {torch_version.partition('+')[0]})"
        )
    else:
        command = "pip install torchvision  (the release made for your torch version)"
    return installation.pip(command, "SAM")


def gsplat_install_fix(installation: Installation) -> str:
    """The fix line for a missing gsplat (only useful with CUDA)."""
    return installation.pip(
        "pip install gsplat  (with a CUDA build of torch and a CUDA GPU)", "the gsplat backend"
    )


def dependency_item(dependency: Dependency, installation: Installation) -> CheckItem:
    """The report line of one package."""
    version = installed_version(dependency)
    data = {"distribution": dependency.distributions[0], "version": version}
    if version is not None:
        detail = version if version != "unknown" else "installed (version unknown: no metadata)"
        if not dependency.required:
            detail += f" (optional: {dependency.purpose})"
        return CheckItem(SECTION, dependency.name, Status.OK, detail, data=data)
    if dependency.required:
        fix = (
            "this packaged LiftStudio is incomplete: download or build it again"
            if installation.frozen
            else installation.pip(SOURCE_INSTALL, "LiftStudio's required packages")
        )
        return CheckItem(
            SECTION, dependency.name, Status.ERROR, "not installed (required)", fix, data
        )
    fixes = {
        "segment_anything": sam_install_fix,
        "torchvision": torchvision_install_fix,
        "transformers": dino_install_fix,
        "safetensors": dino_install_fix,
        "gsplat": gsplat_install_fix,
    }
    fix = fixes.get(dependency.name)
    return CheckItem(
        SECTION,
        dependency.name,
        Status.MISSING,
        f"not installed (optional: {dependency.purpose})",
        fix(installation)
        if fix is not None
        else installation.pip(f"pip install {dependency.distributions[0]}", dependency.purpose),
        data,
    )
