"""``python -m seefood``: the same as the ``seefood`` command."""

import sys

from seefood.cli import main

sys.exit(main())
