"""`python -m modules` is `modelform`."""

import sys

from .cli import main

sys.exit(main())
