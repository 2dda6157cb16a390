"""PyInstaller runtime hook: give numba a writable cache folder in the frozen app.

The CPU renderer's kernels are compiled with ``numba.njit(cache=True)``. Next to the
bundle's sources numba would try to write ``__pycache__`` inside the bundle, which is
read-only once installed system-wide, so unless the user chose a folder with
``NUMBA_CACHE_DIR`` the cache goes to LiftStudio's cache folder
(:func:`liftstudio.disk_cache.cache_root`, ``~/.cache/liftstudio`` by default) under
``numba/``. Runs before the app's code, so before numba reads its configuration.
"""

import os

if not os.environ.get("NUMBA_CACHE_DIR"):
    from liftstudio.disk_cache import cache_root

    os.environ["NUMBA_CACHE_DIR"] = str(cache_root() / "numba")
