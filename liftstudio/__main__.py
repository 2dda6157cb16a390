"""``python -m liftstudio``: the same as the ``liftstudio`` command."""

import sys

from liftstudio.cli import main

sys.exit(main())
