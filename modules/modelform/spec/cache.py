"""Validated model specs by content: a repository of 1,000 specs validates only what changed.

Validating a spec is a pure function of its bytes, the Platform spec it is checked against and
the code that validates it, with two exceptions, both checked on every use instead of cached:
the filesystem (the code folder and entry points must exist) and the clock (a scheduled window
that has ended becomes a warning). An entry is therefore keyed by a hash of the spec file's name
and bytes, every non-model spec file's bytes (the Platform spec), the repository root and the
source of the spec package itself; it holds the typed spec of every environment and the
warnings, and is used only while no window it knows of has ended since and only if its code
folders still check out. Only valid specs are cached: a spec with errors is validated again, so
that its errors are always worded and placed by the validator.

Entries live in `<repository>/.modelform/cache/specs/` (modelform's own output folder) as pickles
of the typed specs, written atomically; anything unreadable is a miss. `MODELFORM_SPEC_CACHE=off`
turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Optional

from ..content_cache import FOLDER as CACHE_FOLDER
from ..content_cache import entry_path, switched_on, touch, write_entry
from .errors import SpecError
from .types import ModelSpec

#: Raised with any change to what an entry holds.
FORMAT = 1
FOLDER = os.path.join(CACHE_FOLDER, "specs")


@dataclass(frozen=True)
class Entry:
    name: str
    specs: dict[str, ModelSpec]  # environment -> typed spec
    warnings: tuple[SpecError, ...]
    #: The earliest end of a scheduled window still to come when the entry was made: from then on,
    #: that window's "already over" warning is due, so the entry is no longer used.
    valid_until: Optional[datetime]


@lru_cache(maxsize=None)
def _validator_source() -> str:
    """A hash of what validates: the spec package's source, the naming rules it checks derived
    names with, and the AWS data it reads (`aws_catalog.json`). Another validator, other entries."""
    digest = hashlib.sha256(f"{FORMAT}".encode())
    here = Path(__file__).parent
    for path in [*sorted(here.glob("*.py")), here / "aws_catalog.json", here.parent / "naming.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def enabled() -> bool:
    return switched_on("MODELFORM_SPEC_CACHE")


class SpecCache:
    def __init__(self, root: str, context: bytes):
        """`context`: what every entry depends on besides its own file (the non-model spec
        files' names and bytes)."""
        self.folder = os.path.join(root, FOLDER)
        self.context = hashlib.sha256(_validator_source().encode() + os.path.abspath(root).encode() + context).digest()

    def key(self, file: str, raw: bytes) -> str:
        return hashlib.sha256(self.context + file.encode() + b"\0" + raw).hexdigest()

    def get(self, key: str, now: datetime) -> Optional[Entry]:
        path = entry_path(self.folder, key)
        try:
            with open(path, "rb") as handle:
                entry = pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
            return None
        touch(path)  # read lately: kept by a job that prunes the cache
        if not isinstance(entry, Entry) or (entry.valid_until is not None and now >= entry.valid_until):
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        write_entry(self.folder, key, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))


def valid_until(specs: dict[str, ModelSpec], now: datetime) -> Optional[datetime]:
    ends = [
        window.end
        for spec in specs.values()
        for deployment in spec.deployments
        if deployment.autoscaling is not None
        for window in deployment.autoscaling.scheduled
        if window.end > now
    ]
    return min(ends) if ends else None
