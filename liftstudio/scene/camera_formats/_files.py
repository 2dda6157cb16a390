"""File chores shared by the camera formats: finding and sizing images."""

from __future__ import annotations

from pathlib import Path

from liftstudio.errors import InputFileError

#: Extensions tried, in order, when a camera file names an image without one
#: (NeRF synthetic writes ``./train/r_0`` for ``train/r_0.png``).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".webp", ".tif", ".tiff")


def find_image(folder: Path, relative: str) -> Path | None:
    """Find the image ``folder / relative``, trying common extensions when it lacks one.

    Parameters
    ----------
    folder
        Folder the name is relative to.
    relative
        Image name or relative path as written in a camera file.

    Returns
    -------
    Path or None
        The existing file, or ``None`` when none of the candidates exists.
    """
    candidate = folder / relative
    if candidate.is_file():
        return candidate
    for extension in IMAGE_EXTENSIONS:
        with_extension = candidate.with_name(candidate.name + extension)
        if with_extension.is_file():
            return with_extension
    return None


def image_size(image: Path) -> tuple[int, int]:
    """Width and height of an image file, read from its header with Pillow.

    Parameters
    ----------
    image
        The image file.

    Returns
    -------
    tuple of int
        ``(width, height)`` in pixels.

    Raises
    ------
    InputFileError
        When Pillow cannot identify the file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image) as handle:
            return int(handle.width), int(handle.height)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputFileError(image, f"cannot read the image size: {exc}") from None


def normalise_relative(name: str) -> str:
    """Write a relative image path with ``/`` and without leading ``./``.

    Parameters
    ----------
    name
        Path as written in a camera file (``./train/r_0``, or with Windows separators).

    Returns
    -------
    str
        ``"train/r_0"``, ``"images/a.png"``.
    """
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name
