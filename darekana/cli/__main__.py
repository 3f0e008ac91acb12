"""``python -m darekana.cli``: the command line (the tests run it so)."""

import sys

from darekana.cli import main

sys.exit(main())
