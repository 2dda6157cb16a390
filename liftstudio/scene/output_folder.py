"""Write a scene in the 3DGS output layout that every 3DGS tool opens.

``folder/point_cloud/iteration_<N>/point_cloud.ply``, ``folder/cameras.json`` and
``folder/cfg_args`` (the argparse repr the INRIA code and its viewers read).
"""

from __future__ import annotations

from pathlib import Path

from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output, make_folder
from liftstudio.scene.camera import Camera
from liftstudio.scene.camera_formats.gs_json import write_3dgs_cameras
from liftstudio.scene.formats.ply import write_ply
from liftstudio.scene.gaussians import GaussianScene


def write_3dgs_output(
    folder: str | Path,
    gaussians: GaussianScene,
    cameras: list[Camera],
    *,
    iteration: int = 30000,
    overwrite: bool = False,
) -> Path:
    """Write Gaussians and cameras as a 3DGS output folder.

    Parameters
    ----------
    folder
        The output folder; created if missing.
    gaussians
        Written to ``point_cloud/iteration_<iteration>/point_cloud.ply``.
    cameras
        Written to ``cameras.json``.
    iteration
        Iteration number in the folder name.
    overwrite
        Replace files of an earlier output in the same folder.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFileError(folder, "exists and is not a folder")
    ply_dir = folder / "point_cloud" / f"iteration_{iteration}"
    make_folder(ply_dir)
    write_ply(gaussians, ply_dir / "point_cloud.ply", overwrite=overwrite)
    write_3dgs_cameras(cameras, folder / "cameras.json", overwrite=overwrite)
    with atomic_output(folder / "cfg_args", overwrite=overwrite) as tmp:
        tmp.write_text(
            f"Namespace(sh_degree={gaussians.sh_degree}, source_path='', "
            f"model_path={str(folder)!r}, images='images', white_background=False)",
            encoding="utf-8",
        )
    return folder
