"""``liftstudio doctor``: what this installation can do, and what to install for the rest.

:func:`run_checks` runs every check and returns :class:`CheckItem` s (section, name,
status, detail, fix); :func:`format_report` turns them into the text the command prints
and the app's System check dialog shows, :func:`report_json` into the ``--json`` output,
and :func:`exit_status` into the command's exit status (1 when something required is
broken). Each check is isolated: an unexpected exception in one becomes an error item
carrying its text, and the others still run. The OpenGL check runs its probe in a
separate process (:mod:`liftstudio.doctor.gl`); nothing here imports Qt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from functools import cache, partial

from liftstudio.doctor import dependencies, gl, models, storage, system
from liftstudio.doctor.installation import Installation, current_installation
from liftstudio.doctor.report import (
    CheckItem,
    Status,
    counts,
    exit_status,
    format_report,
    report_json,
)

__all__ = [
    "SECTIONS",
    "CheckItem",
    "Status",
    "counts",
    "exit_status",
    "format_report",
    "report_json",
    "run_check",
    "run_checks",
]

logger = logging.getLogger(__name__)

#: The report's sections, in order.
SECTIONS = (
    system.SECTION,
    dependencies.SECTION,
    gl.SECTION,
    models.GPU,
    models.SAM,
    models.DINO,
    storage.SECTION,
    system.RESOURCES,
)

CheckFunction = Callable[[], Iterable[CheckItem] | CheckItem]
"""A check: returns its item, or several."""


def run_check(section: str, name: str, check: CheckFunction) -> list[CheckItem]:
    """Run one check; an unexpected exception becomes an error item with its text.

    Parameters
    ----------
    section, name
        Where the error item goes if ``check`` raises.
    check
        The check.
    """
    try:
        found = check()
        return [found] if isinstance(found, CheckItem) else list(found)
    except Exception as exc:  # a bug in one check must not hide the others
        logger.debug("check %s / %s failed", section, name, exc_info=True)
        return [
            CheckItem(
                section,
                name,
                Status.ERROR,
                f"the check itself failed: {type(exc).__name__}: {exc}",
                "this is a bug in LiftStudio's checks: please report it with the output of "
                "liftstudio --debug doctor",
                {"exception": f"{type(exc).__name__}: {exc}"},
            )
        ]


def run_checks(
    *,
    gl_probe: bool = True,
    gl_timeout: float = gl.PROBE_TIMEOUT_S,
    sections: Collection[str] | None = None,
) -> list[CheckItem]:
    """Run the checks and return their items in report order.

    Parameters
    ----------
    gl_probe
        Run the OpenGL probe (a separate process that starts Qt; up to ``gl_timeout``
        seconds). False reports OpenGL as not checked.
    gl_timeout
        Seconds after which the probe is stopped (an error: a hung driver).
    sections
        Only these sections (:data:`SECTIONS`); None: all.

    Returns
    -------
    list of CheckItem
        Section by section, in :data:`SECTIONS` order.

    Raises
    ------
    ValueError
        For a section name not in :data:`SECTIONS`.
    """
    wanted = set(SECTIONS if sections is None else sections)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    installation = current_installation()
    probe = (
        gl.GlProbeRun(installation, timeout=gl_timeout)
        if gl_probe and gl.SECTION in wanted
        else None
    )  # started first: Qt starts in its own process while the other checks run
    checks = _checks(installation, probe, cache(models.read_config))
    found: dict[int, list[CheckItem]] = {}
    order = [i for i, (section, _, _) in enumerate(checks) if section in wanted]
    for index in sorted(order, key=lambda i: checks[i][0] == gl.SECTION):  # OpenGL last
        found[index] = run_check(*checks[index])
    by_section = {section: position for position, section in enumerate(SECTIONS)}
    ordered = sorted(order, key=lambda i: (by_section[checks[i][0]], i))
    return [item for index in ordered for item in found[index]]


def _checks(
    installation: Installation,
    probe: gl.GlProbeRun | None,
    settings: Callable[[], models.ConfigState],
) -> list[tuple[str, str, CheckFunction]]:
    """Every check as ``(section, name, function)``; ``settings()`` reads the settings file."""

    def opengl() -> CheckItem:
        if probe is None:
            return gl.skipped_item()
        return gl.gl_item(probe.outcome(), probe.env, installation)

    checks: list[tuple[str, str, CheckFunction]] = [
        (system.SECTION, "LiftStudio", lambda: system.installation_items(installation)),
    ]
    checks += [
        (dependencies.SECTION, dep.name, partial(dependencies.dependency_item, dep, installation))
        for dep in dependencies.DEPENDENCIES
    ]
    checks += [
        (gl.SECTION, gl.NAME, opengl),
        (models.GPU, "CUDA", lambda: models.cuda_item(installation)),
        (models.GPU, "gsplat backend", lambda: models.gsplat_item(installation)),
        (models.SAM, "SAM", lambda: models.sam_package_item(installation)),
        (models.SAM, "SAM checkpoint", lambda: models.sam_checkpoint_item(settings())),
        (models.DINO, "DINOv2", lambda: models.dino_package_item(installation)),
        (models.DINO, "DINOv2 checkpoint", lambda: models.dino_checkpoint_item(settings())),
        (storage.SECTION, "Settings file", lambda: models.config_item(settings())),
        (storage.SECTION, "Cache folder", storage.cache_root_item),
        (storage.SECTION, "Caches", storage.cache_items),
        (storage.SECTION, "Numba kernels", storage.numba_cache_item),
        (storage.SECTION, "Projects", storage.projects_item),
        (system.RESOURCES, "Memory", system.memory_item),
        (system.RESOURCES, "CPUs", system.cpu_item),
        (system.RESOURCES, "Disk (caches)", system.disk_item),
    ]
    return checks
