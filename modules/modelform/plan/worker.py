"""What the fork server imports before it forks planning workers (see `parallel`): the stack
programs and every provider module they use, so that each worker starts with them loaded."""

import gc

from ..programs import import_providers
from .stack_programs import model_entries, platform_entry  # noqa: F401 - what the workers run

import_providers()
# What is loaded now lives as long as the workers: out of the collector's sight, no collection in a
# worker walks (and copies, page by page, out of the memory it shares with the others) those objects.
gc.freeze()
