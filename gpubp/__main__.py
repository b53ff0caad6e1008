"""``python -m gpubp`` runs the ``gpubp`` command."""

import sys

from .cli import main

sys.exit(main())
