"""Results kept by the content they were computed from, across runs (`.modelform/cache/`).

A plan is a pure function of the specs, the model code and the program that builds it (this
package and the SDKs it runs on), and a stack's plan costs Pulumi's runtime ~5 ms per resource.
Stack plans are kept here under a key that hashes every input of the computation together with
`program_identity()`, so an entry can only ever be read back by a computation that would produce
it again: editing a spec, the model code, this package or upgrading an SDK changes the key, and
nothing needs invalidating.

Entries are text files written atomically (a temporary file renamed into place), one folder per
kind; anything unreadable is a miss. Reading an entry touches it, so a CI job can keep only the
entries its runs read (`find .modelform/cache -type f ! -newer <start> -delete`).
`MODELFORM_CACHE=off` turns these caches off (validated specs have their own,
`MODELFORM_SPEC_CACHE`); a read-only checkout simply computes everything.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Optional

#: Raised with any change to how entries are keyed or written.
FORMAT = 1
#: modelform's cache folder, under the repository root (inside its ignored output folder).
FOLDER = os.path.join(".modelform", "cache")
#: What a plan is computed with besides this package: another version of any, other entries. (What
#: it takes from botocore and the sagemaker SDK ships in `spec/aws_catalog.json`, a source file.)
DEPENDENCIES = ("pulumi", "pulumi_aws", "pulumi_kubernetes")


def touch(path: str) -> None:
    """Mark an entry as read now: a job that keeps the cache (CI) drops what no run read lately."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache is still a cache


def switched_on(variable: str) -> bool:
    """A cache's switch: on unless the environment variable says off (off, 0, false, no)."""
    return os.environ.get(variable, "on").lower() not in ("off", "0", "false", "no")


def enabled() -> bool:
    return switched_on("MODELFORM_CACHE")


def entry_path(folder: str, key: str) -> str:
    """Where an entry lives: one subfolder per first two hex digits, so no folder grows huge."""
    return os.path.join(folder, key[:2], key)


def write_entry(folder: str, key: str, data: bytes) -> None:
    """Write an entry atomically (a temporary file renamed into place: concurrent writers of the
    same entry each put a whole, identical file there); nowhere to write is no error."""
    path = entry_path(folder, key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".entry-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only checkout: computed again next time, nothing else changes


#: The files of this package that make up the program (its code, and the templates and data it reads).
SOURCE_SUFFIXES = (".py", ".json", ".j2", ".html", ".md", ".yaml")


@lru_cache(maxsize=None)
def program_identity() -> str:
    """A hash of the program that computes plans: every source file of this package, and the
    versions of the SDKs it runs on."""
    versions = {}
    for dependency in DEPENDENCIES:
        try:
            versions[dependency] = version(dependency)
        except PackageNotFoundError:
            versions[dependency] = "missing"
    return identity_of(Path(__file__).parent, versions)


def identity_of(package: Path, versions: dict[str, str]) -> str:
    digest = hashlib.sha256(f"modelform-cache {FORMAT}".encode())
    for dependency, installed in sorted(versions.items()):
        digest.update(f"{dependency}=={installed}\0".encode())
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def key_of(kind: str, *parts: str) -> str:
    """The key of a `kind` entry computed from `parts` by this program."""
    digest = hashlib.sha256(f"{kind}\0{program_identity()}".encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


class ContentCache:
    """Text entries of one kind under `<root>/.modelform/cache/<kind>/` (unless `root` is None or
    the cache is off), and in memory."""

    def __init__(self, root: Optional[str], kind: str):
        self.kind = kind
        self.folder = os.path.join(root, FOLDER, kind) if root is not None and enabled() else None
        self._memory: dict[str, str] = {}

    def get(self, key: str) -> Optional[str]:
        if key in self._memory:
            return self._memory[key]
        if self.folder is None:
            return None
        path = entry_path(self.folder, key)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            touch(path)
        except (OSError, UnicodeDecodeError):
            return None
        self._memory[key] = text
        return text

    def remember(self, key: str, text: str) -> None:
        """Keep an entry in memory only (another process wrote it to the folder)."""
        self._memory[key] = text

    def put(self, key: str, text: str) -> None:
        self._memory[key] = text
        if self.folder is not None:
            write_entry(self.folder, key, text.encode("utf-8"))
