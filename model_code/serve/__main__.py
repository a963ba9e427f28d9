"""`python -m model_code.serve`: see `server.py`."""

import sys

from .server import main

sys.exit(main())
