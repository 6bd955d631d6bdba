"""``python -m dse``: the ``dse`` command."""

from __future__ import annotations

import sys

from dse.cli import main


if __name__ == "__main__":
    sys.exit(main())
