"""``python -m darekana``: the command line, as the service runs the training commands in child processes."""

from darekana.cli import main

raise SystemExit(main())
