"""`python -m modelform` is `modelform`."""

import sys

from .cli import main

sys.exit(main())
