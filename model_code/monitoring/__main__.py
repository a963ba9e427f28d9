"""`python -m model_code.monitoring ...`: see `job.py`."""

import sys

from .job import main

sys.exit(main())
