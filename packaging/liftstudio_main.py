"""Entry point of the frozen LiftStudio bundle: the ``liftstudio`` console script.

PyInstaller freezes this file; it does what the ``liftstudio = liftstudio.cli:main``
entry point of ``pyproject.toml`` does in an installed environment.
"""

from __future__ import annotations

import multiprocessing
import sys

from liftstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a worker process of a library starts here too
    sys.exit(main())
