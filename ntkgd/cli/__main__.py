"""``python -m ntkgd.cli``: the same as the ``ntkgd`` script."""

import sys

from . import main

sys.exit(main())
