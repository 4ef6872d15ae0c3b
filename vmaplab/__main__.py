# SPDX-License-Identifier: MIT
"""``python -m vmaplab`` runs the CLI."""
from .cli import main

raise SystemExit(main())
