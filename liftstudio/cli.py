"""The ``liftstudio`` command line: the same core functions the app uses, no Qt.

Errors a user can fix (bad files, missing folders) print one line naming the file
and the problem and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from liftstudio import __version__
from liftstudio.errors import InputFileError, LiftStudioError
from liftstudio.render.registry import BACKEND_NAMES
from liftstudio.render.snapshot import SNAPSHOT_MODES

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_CANCELLED = 130


class UsageError(Exception):
    """A bad combination of command-line values (reported like a file error)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status.

    Without a command (``liftstudio``, ``liftstudio PATH``, ``liftstudio --demo``) the
    desktop app starts; only then is Qt imported.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if _wants_app(argv, parser):
        return _run_app(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="liftstudio: %(levelname)s: %(message)s",
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (LiftStudioError, UsageError) as exc:
        return _fail(args, f"error: {exc}", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        return _fail(args, "cancelled", EXIT_CANCELLED)
    except Exception as exc:  # a bug: still one line unless --debug
        return _fail(
            args,
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            EXIT_INTERNAL_ERROR,
        )


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # argparse keeps subcommands in its private actions
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _wants_app(argv: list[str], parser: argparse.ArgumentParser) -> bool:
    """Whether ``argv`` names no command (the app) rather than a command-line tool."""
    if any(a in ("-h", "--help", "--version") for a in argv[:1]):
        return False
    first = next((a for a in argv if a != "--debug"), None)
    return first is None or first not in _command_names(parser)


def app_parser() -> argparse.ArgumentParser:
    """Arguments of the desktop app (``liftstudio`` without a command)."""
    parser = argparse.ArgumentParser(
        prog="liftstudio",
        description="Open the LiftStudio desktop app (commands: liftstudio --help).",
    )
    parser.add_argument("path", nargs="?", help="a .ply/.splat file or a scene folder to open")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo and lift it")
    parser.add_argument(
        "--screenshot", metavar="PNG",
        help="wait for the first full frame (with --demo: and its labels), save a PNG of the "
        "window (replacing the file) and exit",
    )  # fmt: skip
    parser.add_argument("--size", type=_size, default=(1280, 800), metavar="WxH",
                        help="window size (default: 1280x800)")  # fmt: skip
    parser.add_argument("--debug", action="store_true", help="show debug logs")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"the window must be at least 64x64, got {text!r}")
    return width, height


def _run_app(argv: list[str]) -> int:
    args = app_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="liftstudio: %(levelname)s: %(message)s",
    )
    if args.demo and args.path:
        print("error: give a PATH or --demo, not both", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.path and not Path(args.path).exists():
        print(f"error: {args.path}: no such file or folder", file=sys.stderr)
        return EXIT_USER_ERROR
    from liftstudio.app.launch import run_app

    return run_app(args.path, demo=args.demo, screenshot=args.screenshot, size=args.size)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="liftstudio",
        description="Segment trained 3D Gaussian Splatting scenes into instances.",
    )
    parser.add_argument("--version", action="version", version=f"liftstudio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    info = commands.add_parser(
        "info", help="describe a scene file or folder", description=_cmd_info.__doc__
    )
    info.add_argument("path", help="a .ply/.splat file or a scene folder")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--drop-invalid", action="store_true", help="skip Gaussians with NaN/inf values"
    )
    info.set_defaults(handler=_cmd_info)

    generate = commands.add_parser(
        "generate", help="write a small generated scene", description=_cmd_generate.__doc__
    )
    generate.add_argument("out", help="output folder (3DGS output layout)")
    generate.add_argument("--gaussians", type=_positive_int, default=20_000)
    generate.add_argument("--sh-degree", type=int, choices=range(4), default=1)
    generate.add_argument("--cameras", type=_positive_int, default=24)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--overwrite", action="store_true", help="replace an earlier output")
    generate.set_defaults(handler=_cmd_generate)

    render = commands.add_parser(
        "render", help="render one view of a scene to an image", description=_cmd_render.__doc__
    )
    render.add_argument("path", help="a .ply/.splat file or a scene folder")
    render.add_argument(
        "--camera", default="0", help="camera name or index (default 0: the first camera)"
    )
    render.add_argument("--out", required=True, help="image file to write (.png, .jpg, ...)")
    render.add_argument("--width", type=_positive_int, help="output width (keeps the aspect)")
    render.add_argument("--mode", choices=SNAPSHOT_MODES, default="rgb")
    render.add_argument("--backend", choices=BACKEND_NAMES, default="auto")
    render.add_argument("--background", type=_colour, default=(0.0, 0.0, 0.0), help="R,G,B in 0..1")
    render.add_argument(
        "--ring",
        type=_positive_int,
        metavar="N",
        help="use N generated cameras around the scene instead of its own (for bare PLYs)",
    )
    render.add_argument(
        "--up",
        choices=("x", "y", "z", "-x", "-y", "-z"),
        default="-y",
        help="world up axis for --ring (trained 3DGS scenes are usually -y)",
    )
    render.add_argument("--overwrite", action="store_true", help="replace an existing image")
    render.set_defaults(handler=_cmd_render)

    demo = commands.add_parser(
        "demo", help="run every lifting method on the demo scene", description=_cmd_demo.__doc__
    )
    demo.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    demo.set_defaults(handler=_cmd_demo)

    evaluate = commands.add_parser(
        "eval", help="score per-Gaussian labels against ground truth",
        description=_cmd_eval.__doc__,
    )  # fmt: skip
    evaluate.add_argument("labeled", help="labeled PLY (an integer column of instance ids)")
    evaluate.add_argument("--scene", required=True, help="scene folder with the cameras to use")
    evaluate.add_argument(
        "--gt", required=True, help="ground truth: a .npy of per-Gaussian ids or a labeled PLY"
    )
    evaluate.add_argument("--column", default="instance", help="label column of LABELED")
    evaluate.add_argument("--gt-column", default="instance", help="label column of a GT PLY")
    evaluate.add_argument(
        "--views", choices=("test", "train", "all"), default="test",
        help="cameras to render labels in (default: test, else all when the scene has none)",
    )  # fmt: skip
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of text")
    evaluate.set_defaults(handler=_cmd_eval)

    lift = commands.add_parser(
        "lift",
        help="lift per-view 2D label maps onto the Gaussians; write a labeled PLY",
        description=_cmd_lift.__doc__,
        epilog=_LIFT_FORMATS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lift.add_argument("scene", help="scene folder with training cameras (3DGS output, COLMAP...)")
    lift.add_argument(
        "--masks", required=True, metavar="DIR", help="folder of per-view masks (see below)"
    )
    lift.add_argument(
        "--mask-format", default="auto", metavar="FORMAT",
        help="layout of DIR: object-mask, label-maps, sam-json, saga, omniseg3d (default: auto)",
    )  # fmt: skip
    lift.add_argument(
        "--method", default="vote", choices=_MethodNames(), metavar="METHOD",
        help="lifting method: %(choices)s (default: %(default)s)",
    )  # fmt: skip
    lift.add_argument("--out", required=True, help="labeled PLY to write (.ply)")
    lift.add_argument("--backend", choices=BACKEND_NAMES, default="auto")
    lift.add_argument("--seed", type=int, default=0, help="seed for methods that use randomness")
    lift.add_argument(
        "--steps", type=_positive_int, metavar="N",
        help="training steps of a learned method (codebook, unic, coseg, contrastive)",
    )  # fmt: skip
    lift.add_argument(
        "--features", metavar="FILE.npy",
        help="per-Gaussian features for coseg (e.g. from 'liftstudio features')",
    )  # fmt: skip
    lift.add_argument(
        "--overwrite", action="store_true", help="replace an existing output and its sidecar"
    )
    lift.set_defaults(handler=_cmd_lift)

    masks = commands.add_parser(
        "masks",
        help="make or import per-view 2D masks for a scene's training views",
        description=_cmd_masks.__doc__,
        epilog=_MASKS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    masks.add_argument("scene", help="scene folder with training cameras (3DGS output, COLMAP...)")
    masks.add_argument(
        "--source", required=True, metavar="SOURCE",
        help="felzenszwalb, slic, sam (needs --checkpoint) or import:DIR (see below)",
    )  # fmt: skip
    masks.add_argument("--out", required=True, metavar="DIR", help="folder for the label maps")
    masks.add_argument(
        "--checkpoint", metavar="FILE", help="SAM checkpoint (.pth) for --source sam"
    )
    masks.add_argument(
        "--model-type", choices=("auto", "vit_h", "vit_l", "vit_b"),
        help="SAM model type (default: the config file's, else read from the checkpoint)",
    )  # fmt: skip
    masks.add_argument(
        "--format", default="auto", metavar="FORMAT",
        help="layout of an import:DIR folder (default: detected; see below)",
    )  # fmt: skip
    masks.add_argument(
        "--max-side", type=_positive_int, metavar="PX",
        help="segment images scaled to this long side (faster; default: full size)",
    )  # fmt: skip
    masks.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                       help="renderer for views without an image file")  # fmt: skip
    masks.add_argument("--no-cache", action="store_true", help="neither read nor fill the cache")
    masks.add_argument(
        "--overwrite", action="store_true", help="write into a folder that already holds files"
    )
    masks.set_defaults(handler=_cmd_masks)

    features = commands.add_parser(
        "features",
        help="DINOv2 features of the training views, lifted onto the Gaussians (.npy)",
        description=_cmd_features.__doc__,
        epilog=_FEATURES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    features.add_argument("scene", help="scene folder with Gaussians and training cameras")
    features.add_argument(
        "--checkpoint", metavar="PATH",
        help="DINOv2 model folder (Hugging Face) or torch-hub checkpoint (.pth); default: "
        "[dino] checkpoint in the config file",
    )  # fmt: skip
    features.add_argument("--out", required=True, metavar="FILE.npy", help="features to write")
    features.add_argument("--dims", type=_positive_int, default=40, help="PCA dimensions")
    features.add_argument(
        "--max-side", type=_positive_int, default=640, metavar="PX",
        help="long side of the per-view feature maps (default: %(default)s)",
    )  # fmt: skip
    features.add_argument("--backend", choices=BACKEND_NAMES, default="auto")
    features.add_argument("--no-cache", action="store_true", help="neither read nor fill the cache")
    features.add_argument("--overwrite", action="store_true", help="replace an existing FILE.npy")
    features.set_defaults(handler=_cmd_features)

    select = commands.add_parser(
        "select",
        help="select one object from a 2D scribble (graph diffusion); write a bool .npy",
        description=_cmd_select.__doc__,
        epilog=_SELECT_FORMATS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    select.add_argument(
        "scene", metavar="SCENE", help="scene folder with cameras (3DGS output, COLMAP...)"
    )
    select.add_argument(
        "--scribble", required=True, type=_view_file, metavar="CAMERA=FILE",
        help="the stroke on the object, drawn on camera CAMERA (train or test split)",
    )  # fmt: skip
    select.add_argument(
        "--negative", type=_view_file, metavar="CAMERA=FILE",
        help="a stroke on what is not the object (same camera as --scribble)",
    )  # fmt: skip
    select.add_argument(
        "--features", action="append", type=_feature_spec, metavar="SPEC",
        help="masks:DIR, colour or FILE.npy; repeat to concatenate (default: see below)",
    )  # fmt: skip
    select.add_argument(
        "--method", choices=("diffusion", "diffusion-lp"), default="diffusion",
        help="graph diffusion (LUDVIG) or label propagation (default: %(default)s)",
    )  # fmt: skip
    select.add_argument(
        "--reference", type=_view_file, metavar="CAMERA=FILE",
        help="the object's full mask on one view: choose the bandwidths b_f, b_p by IoU "
        "on it (default: b_f=3, b_p=30)",
    )  # fmt: skip
    select.add_argument(
        "--threshold", type=_threshold, default=None, metavar="auto|VALUE",
        help="score threshold in [0, 1] (default auto: Li's minimum cross-entropy)",
    )  # fmt: skip
    select.add_argument("--backend", choices=BACKEND_NAMES, default="auto")
    select.add_argument(
        "--k", type=_positive_int, default=16,
        help="neighbours per Gaussian in the kNN graph (default: %(default)s)",
    )  # fmt: skip
    select.add_argument(
        "--out", required=True, metavar="FILE", help="selection to write (.npy, bool (N,))"
    )
    select.add_argument(
        "--scores", metavar="FILE", help="also write the per-Gaussian scores (.npy, float32)"
    )
    select.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    select.set_defaults(handler=_cmd_select)

    _add_export_parser(commands)

    doctor = commands.add_parser(
        "doctor",
        help="check what this installation can do and what to install for the rest",
        description=_cmd_doctor.__doc__,
    )
    doctor.add_argument("--json", action="store_true", help="print JSON instead of text")
    doctor.add_argument(
        "--no-gl", action="store_true", help="skip the OpenGL probe (faster; starts no Qt)"
    )
    doctor.add_argument(
        "--gl-timeout", type=float, default=60.0, metavar="SECONDS",
        help="stop the OpenGL probe after this long (default: %(default)s)",
    )  # fmt: skip
    doctor.add_argument("--gl-probe", action="store_true", help=argparse.SUPPRESS)
    doctor.set_defaults(handler=_cmd_doctor)

    bench = commands.add_parser("bench", help="run a benchmark and print its figures")
    benches = bench.add_subparsers(title="benchmarks", metavar="BENCHMARK", required=True)
    io = benches.add_parser("io", help="PLY load/save time and peak memory")
    io.add_argument("--gaussians", type=_positive_int, default=1_000_000)
    io.add_argument("--sh-degree", type=int, choices=range(4), default=3)
    io.add_argument("--repeats", type=_positive_int, default=3)
    io.add_argument("--json", action="store_true", help="print JSON instead of text")
    io.set_defaults(handler=_cmd_bench_io)
    bench_export = benches.add_parser(
        "export", help="labeled PLY export and read-back of 1M labeled Gaussians"
    )
    bench_export.add_argument("--gaussians", type=_positive_int, default=1_000_000)
    bench_export.add_argument("--sh-degree", type=int, choices=range(4), default=3)
    bench_export.add_argument("--instances", type=_positive_int, default=200)
    bench_export.add_argument("--repeats", type=_positive_int, default=3)
    bench_export.add_argument("--json", action="store_true", help="print JSON instead of text")
    bench_export.set_defaults(handler=_cmd_bench_export)
    bench_edit = benches.add_parser(
        "edit", help="click/lasso/brush selection and undo of a 500k edit at 1M Gaussians"
    )
    bench_edit.add_argument("--gaussians", type=_positive_int, default=1_000_000)
    bench_edit.add_argument("--json", action="store_true", help="print one JSON object")
    bench_edit.set_defaults(handler=_cmd_bench_edit)

    bench_viewport = benches.add_parser(
        "viewport", help="viewport frame rate and depth-sort time (biker and 1M, 1920x1080)"
    )
    bench_viewport.add_argument("--scene", help="Gaussian file to use instead of biker")
    bench_viewport.add_argument("--size", type=_size, default=(1920, 1080), metavar="WxH")
    bench_viewport.add_argument("--frames", type=_positive_int, default=12)
    bench_viewport.add_argument(
        "--large", type=int, default=1_000_000, help="Gaussians of the generated scene (0: skip)"
    )
    bench_viewport.add_argument("--json", action="store_true", help="print one JSON object")
    bench_viewport.set_defaults(handler=_cmd_bench_viewport)

    bench_render = benches.add_parser(
        "render", help="render, uplift and operator-row speed (biker, 24 views, 640x480)"
    )
    bench_render.add_argument("--backend", choices=("auto", "cpu", "gsplat"), default="cpu")
    bench_render.add_argument("--scene", help="Gaussian file to use instead of biker")
    bench_render.add_argument("--views", type=_positive_int, default=24)
    bench_render.add_argument("--width", type=_positive_int, default=640)
    bench_render.add_argument("--height", type=_positive_int, default=480)
    bench_render.add_argument(
        "--no-startup", action="store_true", help="skip timing fresh processes (compile, cache)"
    )
    bench_render.add_argument("--json", action="store_true", help="print one JSON object")
    bench_render.set_defaults(handler=_cmd_bench_render)
    lift_speed = benches.add_parser(
        "lift-speed",
        help="uplift (biker, 60 views), vote memory, kNN graph and one selection at 1 M",
    )
    lift_speed.add_argument("--backend", choices=("auto", "cpu", "gsplat"), default="cpu")
    lift_speed.add_argument("--scene", help="Gaussian file to use instead of biker")
    lift_speed.add_argument("--views", type=_positive_int, default=60)
    lift_speed.add_argument(
        "--gaussians", type=_positive_int, default=1_000_000, help="size of the diffusion scene"
    )
    lift_speed.add_argument("--json", action="store_true", help="print one JSON object")
    lift_speed.set_defaults(handler=_cmd_bench_lift_speed)
    learned = benches.add_parser(
        "learned",
        help="one learned method end to end on the room scene (200k Gaussians, 60 views)",
    )
    learned.add_argument("--method", default="codebook", help="a lifting method (codebook, ...)")
    learned.add_argument("--gaussians", type=_positive_int, default=200_000)
    learned.add_argument("--views", type=_positive_int, default=60)
    learned.add_argument("--width", type=_positive_int, default=320)
    learned.add_argument("--height", type=_positive_int, default=240)
    learned.add_argument("--backend", choices=("auto", "cpu", "gsplat"), default="cpu")
    learned.add_argument("--json", action="store_true", help="print one JSON object")
    learned.set_defaults(handler=_cmd_bench_learned)
    bench_lift = benches.add_parser(
        "lift", help="lifting methods x benchmark scenes x mask noise, scored"
    )
    bench_lift.add_argument("--scenes", type=_names, default="tabletop,room,cluttered,composite")
    bench_lift.add_argument("--noise", type=_names, default="clean,sam-like")
    bench_lift.add_argument("--methods", type=_names, help="default: every method and reference")
    bench_lift.add_argument("--seed", type=int, default=0)
    bench_lift.add_argument("--json", action="store_true", help="print a JSON list of rows")
    bench_lift.set_defaults(handler=_cmd_bench_lift)
    return parser


def _cmd_doctor(args: argparse.Namespace) -> int:
    """Report what this installation can do and what to install for what is missing.

    Versions, OpenGL, CUDA and gsplat, SAM, DINOv2, caches, memory. Exit status 1 when
    something required is broken, else 0 (missing optional parts are fine).
    """
    if args.gl_probe:
        # The OpenGL probe, for a frozen build whose program cannot run ``-m``
        # (liftstudio.doctor.gl); Qt code, imported only in the probe's own process.
        from liftstudio.app.gl_probe import main as probe_main

        return int(probe_main())
    from liftstudio.doctor import exit_status, format_report, report_json, run_checks

    items = run_checks(gl_probe=not args.no_gl, gl_timeout=args.gl_timeout)
    if args.json:
        print(json.dumps(report_json(items), indent=2))
    else:
        print(format_report(items), end="")
    return exit_status(items)


def _cmd_info(args: argparse.Namespace) -> int:
    """Describe the Gaussians, cameras and images of a scene file or folder."""
    from liftstudio.scene.discovery import open_scene
    from liftstudio.scene.summary import summarize

    scene = open_scene(args.path, on_invalid="drop" if args.drop_invalid else "error")
    summary = summarize(scene)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    """Write a small generated scene (random coloured blobs, orbiting cameras)."""
    from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
    from liftstudio.scene.output_folder import write_3dgs_output

    gaussians = random_gaussians(args.gaussians, sh_degree=args.sh_degree, seed=args.seed)
    folder = write_3dgs_output(
        args.out, gaussians, orbit_cameras(args.cameras), overwrite=args.overwrite
    )
    print(f"wrote {len(gaussians):,} Gaussians and {args.cameras} cameras to {folder}")
    return 0


def _cmd_bench_io(args: argparse.Namespace) -> int:
    """Time PLY save and load of a generated scene and measure peak memory."""
    from liftstudio.evaluate.bench_io import format_io_report, run_io_benchmark

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    result = run_io_benchmark(
        args.gaussians, sh_degree=args.sh_degree, repeats=args.repeats, progress=progress
    )
    print(json.dumps(result, indent=2) if args.json else format_io_report(result))
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    """Render one view of a scene (colour, depth or alpha) to an image file."""
    from liftstudio.render.registry import resolve_backend
    from liftstudio.render.snapshot import find_camera, render_snapshot
    from liftstudio.scene.camera_rigs import ring_around
    from liftstudio.scene.discovery import open_scene

    opened = open_scene(args.path)
    if opened.gaussians is None:
        raise InputFileError(opened.path, "holds no Gaussians to render")
    if args.ring:
        axis = {"x": 0, "y": 1, "z": 2}[args.up[-1]]
        up = [0.0, 0.0, 0.0]
        up[axis] = -1.0 if args.up.startswith("-") else 1.0
        cameras = ring_around(opened.gaussians.means, args.ring, up=up)
    elif opened.cameras is None:
        raise InputFileError(
            opened.path, "has no cameras; pass --ring N to render from generated cameras"
        )
    else:
        cameras = opened.cameras.all
    try:
        camera = find_camera(cameras, args.camera)
    except ValueError as exc:
        raise InputFileError(opened.path, str(exc)) from None
    backend = resolve_backend(args.backend)
    start = time.perf_counter()
    out = render_snapshot(
        backend,
        opened.gaussians,
        camera,
        args.out,
        mode=args.mode,
        width=args.width,
        background=args.background,
        overwrite=args.overwrite,
    )
    elapsed = time.perf_counter() - start
    print(f"wrote {out} ({args.mode}, camera {camera.name!r}, {backend.name} backend, "
          f"{elapsed:.2f} s)")  # fmt: skip
    return 0


def _cmd_bench_render(args: argparse.Namespace) -> int:
    """Time render, uplift (C=16), operator rows (top_k=16) and pick on the biker scene."""
    from liftstudio.evaluate.bench_render import format_render_report, run_render_benchmark

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    result = run_render_benchmark(
        backend=args.backend,
        scene_path=args.scene,
        num_views=args.views,
        width=args.width,
        height=args.height,
        measure_startup=not args.no_startup,
        progress=progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_render_report(result))
    return 0


def _cmd_bench_edit(args: argparse.Namespace) -> int:
    """Time the selection tools and undo/redo of a large edit at 1M Gaussians."""
    from liftstudio.labels.bench_select_tools import (
        format_select_tools_report,
        run_select_tools_benchmark,
    )
    from liftstudio.labels.bench_undo import run_undo_benchmark

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    tools = run_select_tools_benchmark(args.gaussians, progress=progress)
    undo = run_undo_benchmark(num_gaussians=args.gaussians, edited=args.gaussians // 2)
    if args.json:
        print(json.dumps({"tools": tools, "undo": undo}, indent=2))
    else:
        print(format_select_tools_report(tools))
        print(
            f"undo of a {undo['edited']:,}-Gaussian edit: {undo['undo_ms']:.1f} ms "
            f"(redo {undo['redo_ms']:.1f} ms, the edit itself {undo['assign_ms']:.0f} ms, "
            f"history {undo['history_mb']:.1f} MB); target <= 50 ms"
        )
    return 0


def _cmd_bench_viewport(args: argparse.Namespace) -> int:
    """Time the viewport's depth sort and frames on biker and on 1M generated Gaussians."""
    from liftstudio.app.viewport.bench_viewport import (
        NoOpenGLError,
        format_viewport_report,
        run_viewport_benchmark,
    )

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    try:
        result = run_viewport_benchmark(
            scene_path=Path(args.scene) if args.scene else None,
            size=args.size,
            frames=args.frames,
            large=args.large,
            progress=progress,
        )
    except NoOpenGLError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result, indent=2) if args.json else format_viewport_report(result))
    return 0


def _cmd_bench_lift_speed(args: argparse.Namespace) -> int:
    """Time uplift, votes, the kNN graph and one selection against the lifting targets."""
    from liftstudio.evaluate.bench_lift_speed import (
        format_lift_speed_report,
        run_lift_speed_benchmark,
    )

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    result = run_lift_speed_benchmark(
        backend=args.backend,
        scene_path=args.scene,
        num_views=args.views,
        diffusion_gaussians=args.gaussians,
        progress=progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_lift_speed_report(result))
    return 0


def _cmd_bench_learned(args: argparse.Namespace) -> int:
    """Time one learned lifting method end to end on the room scene."""
    from liftstudio.evaluate.bench_learned import format_learned_report, run_learned_benchmark

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    try:
        result = run_learned_benchmark(
            method=args.method,
            num_gaussians=args.gaussians,
            num_views=args.views,
            width=args.width,
            height=args.height,
            backend=args.backend,
            progress=progress,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result, indent=2) if args.json else format_learned_report(result))
    return 0


def _cmd_bench_lift(args: argparse.Namespace) -> int:
    """Score lifting methods on the benchmark scenes under simulated mask noise."""
    from liftstudio.evaluate.bench_lift import format_lift_table, rows_as_dicts, run_lift_benchmark

    try:
        rows = run_lift_benchmark(
            scenes=args.scenes,
            noises=args.noise,
            methods=args.methods,
            seed=args.seed,
            progress=lambda message: print(f"... {message}", file=sys.stderr, flush=True),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(rows_as_dicts(rows), indent=2) if args.json else format_lift_table(rows))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run every lifting method on the built-in demo scene and print their scores."""
    from liftstudio.evaluate.bench_lift import (
        available_methods,
        format_lift_table,
        rows_as_dicts,
        run_row,
    )
    from liftstudio.evaluate.demo_scene import DEMO_NOISE, demo_dir, load_demo_scene
    from liftstudio.render.registry import resolve_backend

    print(f"... loading the demo scene from {demo_dir()}", file=sys.stderr, flush=True)
    scene, masks = load_demo_scene()
    backend = resolve_backend("auto")
    rows = []
    for method in available_methods():
        print(f"... {method}", file=sys.stderr, flush=True)
        rows.append(run_row(scene, DEMO_NOISE, method, masks, backend))
    if args.json:
        print(json.dumps(rows_as_dicts(rows), indent=2))
    else:
        print(
            f"Demo: {len(scene.gaussians):,} Gaussians, {scene.num_instances} instances, "
            f"{len(scene.train_cameras)} training views with {DEMO_NOISE} masks, "
            f"{len(scene.test_cameras)} test views\n"
        )
        print(format_lift_table(rows))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    """Score a labeled PLY against ground truth (PQ^scene, object mIoU, Gaussian accuracy)."""
    from liftstudio.evaluate.score_file import format_scores, score_labeled_file

    scores = score_labeled_file(
        args.labeled,
        scene=args.scene,
        gt=args.gt,
        column=args.column,
        gt_column=args.gt_column,
        views=args.views,
    )
    print(json.dumps(scores, indent=2) if args.json else format_scores(scores))
    return 0


_LIFT_FORMATS = """\
label maps (--masks DIR): one file per training view, matched to the cameras by the
view's image name, never by order (DSC0001.JPG -> DSC0001.png or DSC0001.npy):
  .png   8- or 16-bit single-channel greyscale, or an indexed-palette PNG (the
         palette indices are the ids); RGB/RGBA colour masks are refused
  .npy   2D integer array (uint8, uint16, int32, int64)
  id 0 = in no mask; ids must be >= 0. A DIR that holds object_mask/ (Gaussian
  Grouping's layout) is read from there. A map may be smaller or larger than its
  image if the aspect ratio is the same (the view is lifted at the map's size).
  'vote' needs ids that agree across views (object_mask, a video tracker, hand labels).
  Other layouts, detected or named with --mask-format (overlapping masks are painted
  larger first, so the smaller mask wins where they overlap; ids are per view):
  sam-json   SAM automatic-mask output, <image>.json with COCO RLE segmentations
  saga       SAGA sam_masks/<image>.pt, bool [M, H, W] (loaded with weights_only)
  omniseg3d  OmniSeg3D sam/<image>.npz (indices + correlation)
  Make masks with 'liftstudio masks' (felzenszwalb, slic, sam).

output: OUT (.ply) = every column of the input PLY + 'instance' (int32, 0 = unlabeled)
  [+ 'confidence' (float32)], and beside it OUT-stem.instances.json: instance names,
  colours, Gaussian counts, bounding boxes, and how the labels were made.
"""


class _MethodNames:
    """The registered lifting methods' names, looked up only when argparse needs them."""

    def _names(self) -> list[str]:
        from liftstudio.lift.registry import lift_methods

        return sorted(lift_methods())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def _training_provenance(output: object) -> dict:
    """A learned method's steps, training seconds and final losses, for the sidecar."""
    history = getattr(output, "history", None)
    if history is None:
        return {}
    losses = {name: round(history.last(name), 5) for name in history.losses}
    return {"training": {"steps": history.steps, "seconds": round(history.seconds, 3),
                         "final_losses": losses}}  # fmt: skip


def _cmd_lift(args: argparse.Namespace) -> int:
    """Lift per-view 2D label maps onto the Gaussians; write a labeled PLY and its sidecar."""
    from liftstudio.export.labeled_ply import check_output_path, sidecar_path, write_labeled_ply
    from liftstudio.lift.scene_lift import configured_method, prepare_lift
    from liftstudio.scene.discovery import open_scene

    method = configured_method(args.method, steps=args.steps, features=args.features)
    out = Path(args.out)
    check_output_path(out, overwrite=args.overwrite)
    opened = open_scene(args.scene)
    if opened.gaussians is not None:
        check_output_path(out, overwrite=args.overwrite, input_path=opened.gaussians_path)
    with _ProgressLine("reading masks") as progress:
        prepared = prepare_lift(
            opened,
            args.masks,
            method_name=args.method,
            mask_format=args.mask_format,
            backend=args.backend,
            seed=args.seed,
            progress=progress,
        )
    for line in prepared.notes:
        print(line)
    inputs, label_set = prepared.inputs, prepared.masks
    cameras, images, backend = inputs.cameras, inputs.images, inputs.backend
    start = time.perf_counter()
    with _ProgressLine(f"lifting ({args.method}, {backend.name} backend)") as progress:
        output = method(inputs, progress=progress)
    seconds = time.perf_counter() - start
    write_labeled_ply(
        opened.gaussians,
        output.labels,
        out,
        overwrite=args.overwrite,
        confidence=output.confidence,
        input_path=opened.gaussians_path,
        provenance={
            "command": "liftstudio lift",
            "method": args.method,
            "scene": str(opened.path.resolve()),
            "gaussians_file": str(opened.gaussians_path.resolve()),
            "masks": str(label_set.report.folder.resolve()),
            "views": len(cameras),
            "images": images is not None,
            "backend": backend.name,
            "seed": args.seed,
            **({"features": str(Path(args.features).resolve())} if args.features else {}),
            "seconds": round(seconds, 3),
            **_training_provenance(output),
        },
    )
    labels = np.asarray(output.labels)
    labeled = int(np.count_nonzero(labels))
    instances = len(np.unique(labels[labels > 0]))
    print(
        f"lifted {len(cameras)} views with {args.method!r} in {seconds:.2f} s: {instances} "
        f"instances, {labeled:,} of {len(labels):,} Gaussians labeled "
        f"({100 * labeled / max(len(labels), 1):.1f}%)"
    )
    print(f"wrote {out} and {sidecar_path(out).name}")
    return 0


_EXPORT_HELP = """\
SOURCE: a project (.lsproj, as last saved; its scene must still be where it was) or a
  labeled PLY (with its .instances.json sidecar when it has one).

formats (--format, repeat it for several):
  ply          labels for any 3DGS tool: every column of the scene's PLY kept
               bit-exactly, plus 'instance' (int32, 0 = unlabeled), 'label' (int32
               class id = 1-based index into "classes", 0 = none; only when some
               instance has a class) and, with --confidence, 'confidence' (float32,
               NaN = unknown). Beside it NAME.instances.json: per instance its id,
               name, class, colour, visible, locked, Gaussian count and bounding box;
               the classes; the source file; how the labels were made; the LiftStudio
               version. Cut objects out with PlayCanvas splat-transform
               (-V instance,eq,3) or open the file again here: export -> open ->
               export gives identical files.
  instances    each object on its own: one PLY per instance, <name>_<id>.ply
               (instance_<id>.ply when unnamed; every input column), background.ply
               with --background (the unlabeled Gaussians), and instances.json (the
               index: id, name, class, colour, count, box and file of each)
  selection    one picked set on its own: the Gaussians of --indices FILE.npy (a
               bool (N,) mask or integer indices into SOURCE's Gaussians, as
               'liftstudio select' writes) as one PLY, every input column kept
  label-maps   2D training data and evaluation: per training view <image>.png, a
               16-bit PNG of instance ids (0 = none; <image>.npy int32 above 65535),
               and liftstudio_masks.json ('liftstudio lift --masks' reads it back)
  object-mask  Gaussian Grouping's layout: object_mask/<image>.png, 8-bit ids, and
               object_mask_ids.json (ids renumbered 1..K when some id is above 255;
               more than 255 instances is an error)
  saga         SAGA's layout: sam_masks/<image>.pt, a bool [M, H, W] tensor with one
               mask per instance in the view, and sam_masks_ids.json (mask -> id)
  coco         COCO-style per-view JSON, <image>.json: one annotation per instance
               in the view, its mask RLE-encoded (category_id = instance id)
  The 2D formats render the labels in the training cameras (<image> is the view's
  image name without its suffix): a project's scene has them; for a labeled PLY pass
  the scene folder with --scene DIR.

where (--out PATH): with one format, the file (ply, selection: a .ply, or a folder
  that gets labeled.ply / selection.ply) or the folder; with several, a folder that
  gets labeled.ply, selection.ply, instances/, label-maps/ and coco/. object-mask and
  saga always write object_mask/ and sam_masks/ inside PATH (it may be a dataset
  folder holding images/).

hidden instances (--hidden): keep (default; marked "visible": false in the JSON),
  drop (left out of every file) or unlabel (exported with id 0). Unlabeled Gaussians
  (--unlabeled, applied after --hidden): keep (default) or drop. Deleted instances
  have no Gaussians (theirs are unlabeled).

safety: every file appears whole or not at all (instance files all at once); an
  existing output is only replaced with --overwrite, an input (scene, project,
  images, the labeled PLY and its sidecar) never; instance names become safe file
  names that stay in the folder; free disk space is checked before writing.
"""


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    from liftstudio.export.export_job import EXPORT_FORMATS
    from liftstudio.export.row_choices import HIDDEN_CHOICES, UNLABELED_CHOICES

    export = commands.add_parser(
        "export",
        help="write labels out: labeled PLY, one PLY per instance, a selection, 2D masks",
        description=_cmd_export.__doc__,
        epilog=_EXPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument(
        "source", metavar="SOURCE", help="a project (.lsproj) or a labeled PLY (see below)"
    )
    export.add_argument(
        "--format", dest="formats", action="append", required=True, choices=EXPORT_FORMATS,
        metavar="FORMAT", help="%(choices)s; repeat for several (see below)",
    )  # fmt: skip
    export.add_argument("--out", required=True, metavar="PATH", help="file or folder (see below)")
    export.add_argument(
        "--hidden", choices=HIDDEN_CHOICES, default="keep",
        help="hidden instances: %(choices)s (default: %(default)s)",
    )  # fmt: skip
    export.add_argument(
        "--unlabeled", choices=UNLABELED_CHOICES, default="keep",
        help="unlabeled Gaussians: %(choices)s (default: %(default)s)",
    )  # fmt: skip
    export.add_argument(
        "--confidence", action="store_true", help="ply: add the 'confidence' column"
    )
    export.add_argument(
        "--background", action="store_true",
        help="instances: add background.ply with the unlabeled Gaussians",
    )  # fmt: skip
    export.add_argument(
        "--indices", metavar="FILE.npy", help="selection: the selected Gaussians (see below)"
    )
    export.add_argument(
        "--scene", metavar="DIR",
        help="2D formats: scene folder with the training cameras (default: the project's)",
    )  # fmt: skip
    export.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                        help="2D formats: renderer (default: %(default)s)")  # fmt: skip
    export.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs (never an input)"
    )
    export.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    """Export the labels of a project or labeled PLY as PLYs and per-view 2D masks."""
    from liftstudio.export.export_job import ExportRequest, run_export
    from liftstudio.export.export_source import load_export_source

    request = ExportRequest(
        formats=tuple(args.formats),
        out=Path(args.out),
        hidden=args.hidden,
        unlabeled=args.unlabeled,
        confidence=args.confidence,
        background=args.background,
        overwrite=args.overwrite,
        indices=Path(args.indices) if args.indices else None,
        scene=Path(args.scene) if args.scene else None,
        backend=args.backend,
    )
    start = time.perf_counter()
    source = load_export_source(args.source)
    for note in source.notes:
        print(f"... {note}", file=sys.stderr, flush=True)
    with _ProgressLine("exporting") as progress:
        results = run_export(source, request, progress=progress)
    for result in results:
        for note in result.notes:
            print(f"{result.format}: {note}")
        print(result.summary)
    print(f"exported {len(results)} format(s) in {time.perf_counter() - start:.2f} s")
    return 0


def _cmd_bench_export(args: argparse.Namespace) -> int:
    """Time the labeled PLY export and its read-back at 1M labeled Gaussians."""
    from liftstudio.export.bench_export import format_export_report, run_export_benchmark

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    result = run_export_benchmark(
        args.gaussians,
        sh_degree=args.sh_degree,
        instances=args.instances,
        repeats=args.repeats,
        progress=progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_export_report(result))
    return 0


_MASKS_HELP = """\
sources:
  felzenszwalb  graph segmentation of each image (scikit-image; no model weights)
  slic          SLIC superpixels of each image (scikit-image; no model weights)
  sam           Segment Anything's automatic masks (pip install 'liftstudio[sam]'):
                32 points per side, predicted IoU >= 0.88, stability >= 0.95, regions
                under 100 px removed; overlapping masks painted larger first. Runs on
                CUDA when present, else on the CPU (slow: minutes per view for vit_h).
  import:DIR    masks made elsewhere, matched to the cameras by image name:
                object-mask  Gaussian Grouping object_mask/<image>.png
                label-maps   <image>.png / .npy integer label maps
                sam-json     SAM automatic-mask JSON (COCO RLE), <image>.json
                saga         SAGA sam_masks/<image>.pt (bool [M, H, W])
                omniseg3d    OmniSeg3D sam/<image>.npz

Training views without an image file are rendered from the Gaussians (said in the
output and the manifest). Generated masks are cached per view under
$LIFTSTUDIO_CACHE_DIR/masks (default ~/.cache/liftstudio/masks), keyed by the image
pixels and the source's settings: a second run, or one after a cancel, reuses them.

output: DIR/<image name>.png (16-bit ids, 0 = no mask; .npy int32 above 65535 ids)
  and DIR/liftstudio_masks.json (source, settings, rendered views); read it with
  'liftstudio lift SCENE --masks DIR'.
"""


def _cmd_masks(args: argparse.Namespace) -> int:
    """Make per-view 2D masks for a scene's training views (or import them) into a folder."""
    from liftstudio.sources.scene_masks import IMPORT_PREFIX, scene_masks
    from liftstudio.sources.source_cache import MaskCache
    from liftstudio.user_config import config_path, load_user_config

    source = args.source
    if source.startswith(IMPORT_PREFIX) and not source[len(IMPORT_PREFIX) :]:
        raise UsageError("import: needs a folder, e.g. --source import:path/to/object_mask")
    if args.checkpoint and source != "sam":
        raise UsageError("--checkpoint is only used with --source sam")
    checkpoint, model_type = args.checkpoint, args.model_type
    if source == "sam":
        settings = load_user_config()
        checkpoint = checkpoint or settings.sam_checkpoint
        model_type = model_type or settings.sam_model_type
        if checkpoint is None:
            raise UsageError(
                "the sam source needs a SAM checkpoint file (e.g. sam_vit_h_4b8939.pth): pass "
                f"--checkpoint FILE or set [sam] checkpoint in {config_path()}"
            )
    with _ProgressLine(f"masks ({source})") as progress:
        result = scene_masks(
            args.scene,
            source,
            args.out,
            checkpoint=checkpoint,
            model_type=model_type or "auto",
            import_format=args.format,
            backend=args.backend,
            max_side=args.max_side,
            overwrite=args.overwrite,
            cache=None if args.no_cache else MaskCache(),
            progress=progress,
        )
    for line in result.notes:
        print(line)
    cached = f", {result.cached} from the cache" if result.cached else ""
    print(
        f"{result.source}: {result.views} views, {result.masks_per_view:.1f} masks per view "
        f"on average, in {result.seconds:.1f} s{cached}"
    )
    print(f"wrote {result.views} label maps and liftstudio_masks.json to {result.folder}")
    return 0


_FEATURES_HELP = """\
DINOv2 (pip install 'liftstudio[dino]'; the weights are a local file or folder):
  a Hugging Face model folder (config.json + model.safetensors, e.g. dinov2-small), or
  an official torch-hub checkpoint dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth.
  Every training view (rendered from the Gaussians where its image is missing) runs
  through sliding windows (840 px crops, 200 px stride at 1008 px; scaled to the
  image), the patch tokens are reduced by PCA to --dims eigenvalue-weighted
  dimensions fitted over all views, upsampled to the view, and uplifted onto the
  Gaussians. Runs on CUDA when present, else on the CPU. The per-view maps are cached
  (float16) under $LIFTSTUDIO_CACHE_DIR/features.

output: FILE.npy = float32 (N, dims), one row per Gaussian in the scene's order (zeros
  for Gaussians no view sees); use it with 'liftstudio select --features FILE.npy'
  or 'liftstudio lift --method coseg --features FILE.npy'.
"""


def _cmd_features(args: argparse.Namespace) -> int:
    """Compute DINOv2 features of a scene's training views and lift them onto its Gaussians."""
    from liftstudio.sources.dino import DinoConfig
    from liftstudio.sources.scene_features import scene_features
    from liftstudio.sources.source_cache import FeatureCache
    from liftstudio.user_config import config_path, load_user_config

    checkpoint = args.checkpoint or load_user_config().dino_checkpoint
    if checkpoint is None:
        raise UsageError(
            "DINOv2 needs a model: pass --checkpoint PATH (a Hugging Face folder such as "
            "dinov2-small, or dinov2_vits14_pretrain.pth) or set [dino] checkpoint in "
            f"{config_path()}"
        )
    config = DinoConfig(pca_dims=args.dims, max_side=args.max_side)
    with _ProgressLine("DINOv2 features") as progress:
        result = scene_features(
            args.scene,
            args.out,
            checkpoint=checkpoint,
            config=config,
            backend=args.backend,
            overwrite=args.overwrite,
            cache=None if args.no_cache else FeatureCache(),
            progress=progress,
        )
    for line in result.notes:
        print(line)
    model = f"DINOv2 {result.architecture}" if result.architecture else "cached DINOv2 maps"
    print(
        f"{model}: {result.views} views -> {result.shape[0]:,} x {result.shape[1]} features "
        f"in {result.seconds:.1f} s"
    )
    print(f"wrote {result.path}")
    return 0


_SELECT_FORMATS = """\
scribble, negative, reference (CAMERA=FILE): CAMERA is a camera of the scene, training
or test split: its image name (DSC0001.JPG or DSC0001) or an index (train, then test).
  .png   non-zero pixels are the stroke (any channel); a PNG with transparency: the
         pixels with non-zero alpha. Draw white (or any colour) on black/transparent.
  .npy   2D bool or numeric array, non-zero = stroke
  Any size with the camera's aspect ratio (the view is rendered at that size); an
  empty image, or one with every pixel set, is refused.

features (--features, repeatable; blocks are concatenated):
  masks:DIR  mask-membership features of a folder of per-view label maps, matched to
             the training cameras by image name as in 'liftstudio lift' (8/16-bit
             greyscale or indexed PNG, or 2D integer .npy; 0 = no mask; ids need not
             agree across views)
  colour     the Gaussians' DC colour and normalised position
  FILE.npy   your own (N, D) per-Gaussian features, rows in the scene's order
  default    the first folder of label maps that matches a training camera among
             SCENE/masks, SCENE/masks/* (in name order) and SCENE/object_mask (then
             the same under the folder that holds the training images' folder);
             when none is found: colour (said on stderr)

output: OUT (.npy) = bool (N,) array, True for the selected Gaussians, in the scene's
  Gaussian order; --scores FILE (.npy) = float32 (N,) scores in [0, 1] (selected means
  score > threshold). The kNN graph is cached in $LIFTSTUDIO_CACHE_DIR/graphs
  (default ~/.cache/liftstudio/graphs).
"""


def _cmd_select(args: argparse.Namespace) -> int:
    """Select one object of a scene from a 2D scribble by graph diffusion over its Gaussians."""
    from liftstudio.lift import select_command as sc
    from liftstudio.lift.knn_graph import cached_knn_graph
    from liftstudio.render.registry import resolve_backend
    from liftstudio.scene.discovery import open_scene, require_cameras, require_gaussians
    from liftstudio.sources.label_files import LabelMapSet

    sc.check_selection_outputs(args.out, args.scores, overwrite=args.overwrite)
    opened = open_scene(args.scene)
    scene = require_gaussians(opened, "to select from")
    require_cameras(opened, "a scribble is drawn on one", training=False)
    if not 1 <= args.k < len(scene):
        raise UsageError(f"--k must be below the scene's {len(scene)} Gaussians, got {args.k}")

    def view(given: sc.ViewFile, what: str) -> sc.ViewMask:
        camera = sc.find_view_camera(opened.cameras, given.camera)
        return sc.read_view_mask(given.path, camera, what=what)

    scribble = view(args.scribble, "scribble")
    negative = view(args.negative, "negative scribble") if args.negative else None
    drawn = sc.scribble_input(scribble, negative)
    reference = view(args.reference, "reference mask") if args.reference else None
    backend = resolve_backend(args.backend)
    start = time.perf_counter()
    seeds = sc.scribble_seeds(backend, scene, drawn)
    specs = args.features
    if not specs:
        with _ProgressLine("looking for label maps") as progress:
            found = sc.find_default_masks(opened, progress=progress)
        for note in found.notes:
            print(f"... {note}", file=sys.stderr, flush=True)
        if found.spec is None:
            print("... no label maps found beside the scene: using --features colour "
                  "(pass --features masks:DIR for better selections)",
                  file=sys.stderr, flush=True)  # fmt: skip
            specs = [sc.FeatureSpec("colour")]
        else:
            print(f"... features: {found.spec} (found beside the scene)", file=sys.stderr)
            specs = [found.spec]

    def show_report(label_set: LabelMapSet) -> None:
        for line in label_set.report.lines():
            print(line)

    with _ProgressLine(f"features ({backend.name} backend)") as progress:
        features = sc.build_features(
            backend, scene, opened.cameras.train, specs,
            on_label_maps=show_report, progress=progress,
        )  # fmt: skip
    print(f"features: {features.name}, {features.dims} dims"
          + "".join(f"; {note}" for note in features.notes))  # fmt: skip
    with _ProgressLine(f"kNN graph (k={args.k})") as progress:
        graph = cached_knn_graph(scene, args.k, progress=progress)
    with _ProgressLine(f"selecting ({args.method})") as progress:
        result = sc.select_from_scribble(
            backend, scene, graph, features.values, seeds,
            method=args.method, reference=reference, threshold=args.threshold,
            progress=progress,
        )  # fmt: skip
    if result.bandwidths is not None:
        print(f"bandwidths chosen on {reference.camera.name!r}: "
              f"b_f={result.config.feature_bandwidth:g}, b_p={result.config.gate_bandwidth:g} "
              f"(reference IoU {result.bandwidths.iou:.3f})")  # fmt: skip
    sc.write_selection(args.out, result.selection, scores=args.scores, overwrite=args.overwrite)
    seconds = time.perf_counter() - start
    selection = result.selection
    n = len(selection.mask)
    how = "auto" if args.threshold is None else "given"
    print(f"selected {selection.count:,} of {n:,} Gaussians ({100 * selection.count / n:.1f}%) "
          f"from a scribble seeding {result.seeded:,} on {drawn.camera.name!r}; threshold "
          f"{selection.threshold:.4g} ({how}); {seconds:.2f} s")  # fmt: skip
    print(f"wrote {args.out}" + (f" and {args.scores}" if args.scores else ""))
    return 0


class _ProgressLine:
    """A :data:`~liftstudio.jobs.ProgressCallback` drawing one progress line on stderr.

    On a terminal the line is redrawn in place; otherwise a line is printed at every
    quarter of the job. Use as a context manager so the line is ended on exit or error.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.stream = sys.stderr
        self.tty = self.stream.isatty()
        self._open = False
        self._quarter = -1

    def __call__(self, done: int, total: int, message: str = "") -> None:
        text = f"... {self.label}: {done}/{total}" + (f" {message}" if message else "")
        if self.tty:
            self.stream.write("\r" + text[:119].ljust(119))
            self.stream.flush()
            self._open = True
            return
        quarter = 4 * done // total if total else 4
        if quarter != self._quarter:
            self._quarter = quarter
            print(text, file=self.stream, flush=True)

    def __enter__(self) -> _ProgressLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def format_summary(summary: dict) -> str:
    """Text form of :func:`liftstudio.scene.summary.summarize`'s result."""
    lines = [f"Scene       {summary['path']} ({summary['kind']})"]
    g = summary["gaussians"]
    if g is None:
        lines.append("Gaussians   none")
    else:
        lines.append(
            f"Gaussians   {g['count']:,} from {g['file']} ({g['format']}), "
            f"SH degree {g['sh_degree']}"
        )
        lines.append(f"Columns     {' '.join(_compact_columns(g['columns']))}")
        if "bounding_box" in g:
            box = g["bounding_box"]
            lines.append(
                f"Bounds      min {_vec(box['min'])}  max {_vec(box['max'])}  "
                f"diagonal {box['diagonal']:.4g}"
            )
            o, s = g["opacity"], g["scale_max_axis"]
            lines.append(
                f"Opacity     min {o['min']:.3g}  median {o['median']:.3g}  mean {o['mean']:.3g}  "
                f"max {o['max']:.3g}  ({100 * o['fraction_below_1_255']:.1f}% below 1/255)"
            )
            lines.append(
                f"Scale       largest axis: min {s['min']:.3g}  median {s['median']:.3g}  "
                f"p95 {s['p95']:.3g}  max {s['max']:.3g}"
            )
    c = summary["cameras"]
    if c is None:
        lines.append("Cameras     none")
    else:
        sizes = ", ".join(f"{size} ×{n}" for size, n in c["resolutions"].items())
        lines.append(
            f"Cameras     {c['train']} train + {c['test']} test "
            f"({c['format']}, {c['source']}); {sizes}"
        )
        images = summary["images"]
        where = f" in {', '.join(images['folders'])}" if images["folders"] else ""
        lines.append(f"Images      {images['found']} of {images['total']} found{where}")
    lines.extend(f"Note        {note}" for note in summary["notes"])
    return "\n".join(lines)


def _compact_columns(columns: list[str]) -> list[str]:
    rest = [c for c in columns if c.startswith("f_rest_")]
    if not rest:
        return columns
    first = columns.index(rest[0])
    others = [c for c in columns if not c.startswith("f_rest_")]
    return [*others[:first], f"f_rest_0..{len(rest) - 1}", *others[first:]]


def _vec(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _view_file(text: str):
    from liftstudio.lift.select_command import parse_view_file

    try:
        return parse_view_file(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _feature_spec(text: str):
    from liftstudio.lift.select_command import parse_feature_spec

    try:
        return parse_feature_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _threshold(text: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected auto or a number in [0, 1], got {text!r}")
    return value


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _colour(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"expected R,G,B with values in 0..1, got {text!r}")
    return values


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"liftstudio: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
