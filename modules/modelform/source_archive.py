"""The model code as a byte-for-byte reproducible source archive.

SageMaker script mode takes the code as `sourcedir.tar.gz`. Built here deterministically (files
in name order, fixed owner and mtime, gzip without a timestamp), the archive's SHA-256 is a
content address: the code version recorded with every model package, and part of the S3 key, so
a code change uploads a new archive and re-points the training pipeline, and nothing else does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass

#: What never ships: caches, notebooks' state, local data and outputs.
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", "data", "model", "output", "checkpoints"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".tar.gz", ".md")  # docs change nothing that runs
#: The SageMaker toolkits pip-install a top-level requirements.txt when the job starts; jobs run
#: network-isolated, so that would fail. The AWS PyTorch images carry what model_code needs.
EXCLUDED_TOP_LEVEL = {"requirements.txt", "Dockerfile"}  # the serving image's recipe is not training code
#: Built source archives, under the repository root (ignored by git).
BUILD_DIR = os.path.join(".modelform", "build")


@dataclass(frozen=True)
class SourceArchive:
    path: str  # the built archive
    sha256: str
    files: tuple[str, ...]  # members, relative to the code folder

    @property
    def version(self) -> str:
        """Short code version: the first 12 hex digits of the archive's SHA-256."""
        return self.sha256[:12]


def source_files(folder: str) -> list[str]:
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories[:] = sorted(d for d in subdirectories if d not in EXCLUDED_PARTS and not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name.endswith(EXCLUDED_SUFFIXES):
                continue
            if directory == folder and name in EXCLUDED_TOP_LEVEL:
                continue
            found.append(os.path.relpath(os.path.join(directory, name), folder))
    return sorted(found)


#: Archives built by this process, by folder and the size and change time of every file: a fleet
#: of models shipping one code folder builds (tars and compresses) it once, not once per model.
_BUILT: dict[tuple, SourceArchive] = {}


def build_source_archive(folder: str, build_dir: str) -> SourceArchive:
    """`sourcedir.tar.gz` of `folder` under `build_dir`, named by its content hash."""
    files = source_files(folder)
    if not files:
        raise ValueError(f"{folder} holds no source files")
    stats = tuple((f, os.stat(os.path.join(folder, f))) for f in files)
    key = (folder, build_dir, tuple((f, s.st_size, s.st_mtime_ns, s.st_ino) for f, s in stats))
    built = _BUILT.get(key)
    if built is None or not os.path.exists(built.path):
        built = _BUILT[key] = _build(folder, build_dir, files)
    return built


def model_archive(repo_root: str, code: str) -> SourceArchive:
    """The archive of a model's code folder (`model.code`, relative to the repository root),
    built under the repository's BUILD_DIR."""
    return build_source_archive(os.path.join(repo_root, code), os.path.join(repo_root, BUILD_DIR))


def _build(folder: str, build_dir: str, files: list[str]) -> SourceArchive:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for relative in files:
                with open(os.path.join(folder, relative), "rb") as handle:
                    data = handle.read()
                info = tarfile.TarInfo(relative)
                info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    content = buffer.getvalue()
    sha256 = hashlib.sha256(content).hexdigest()
    os.makedirs(build_dir, exist_ok=True)
    path = os.path.join(build_dir, f"sourcedir-{sha256[:12]}.tar.gz")
    if not os.path.exists(path):
        # A temporary file of its own: processes planning stacks in parallel may write the same
        # archive at once; each rename puts a whole, identical file in place.
        handle, temporary = tempfile.mkstemp(dir=build_dir, prefix=".sourcedir-", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.chmod(temporary, 0o644)  # a build output anyone may read, not mkstemp's private file
        os.replace(temporary, path)
    return SourceArchive(path, sha256, tuple(files))
