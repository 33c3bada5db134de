"""``python -m mle_challenge.cli``: the console script, where it is not on the PATH."""

from __future__ import annotations

import sys

from mle_challenge.cli import main

if __name__ == "__main__":
    sys.exit(main())
