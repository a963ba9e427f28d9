"""Spec files as they were at a git revision, read from git's object store (no checkout, no
worktree): one `git ls-tree` and one `git cat-file --batch` for any number of files."""

from __future__ import annotations

import os
import subprocess

from typing import Collection, Optional

from ..spec.loader import SPEC_SUFFIXES


class GitError(Exception):
    """git could not answer; the message is one line for the user."""


def run_git(args: list[str], cwd: str) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return result.stdout


def repository_top(path: str) -> str:
    """The top folder of the git repository holding `path`."""
    return run_git(["rev-parse", "--show-toplevel"], cwd=path).decode().strip()


def spec_texts_at(revision: str, specs_dir: str, only: Optional[Collection[str]] = None) -> list[tuple[str, bytes]]:
    """Every spec file under `specs_dir` at `revision` (or those of `only`, named as the working
    tree names them, that exist there), named as the working tree would name it (relative to the
    current directory), so plans of both sides line up stack by stack."""
    folder = os.path.abspath(specs_dir)
    top = repository_top(folder if os.path.isdir(folder) else os.getcwd())
    run_git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=top)
    relative = os.path.relpath(folder, top)
    listing = run_git(["ls-tree", "-r", "--full-tree", revision, "--", relative], cwd=top).decode().splitlines()
    wanted = None if only is None else {os.path.normpath(os.path.abspath(f)) for f in only}
    blobs: list[tuple[str, str]] = []
    for line in listing:
        meta, path = line.split("\t", 1)
        if meta.split()[1] != "blob" or not path.endswith(SPEC_SUFFIXES):
            continue
        absolute = os.path.normpath(os.path.join(top, path))
        if wanted is None or absolute in wanted:
            blobs.append((os.path.normpath(os.path.relpath(absolute)), meta.split()[2]))
    blobs.sort()
    contents = _cat_blobs([sha for _, sha in blobs], top)
    return [(shown, content) for (shown, _), content in zip(blobs, contents)]


def _cat_blobs(shas: list[str], top: str) -> list[bytes]:
    """The contents of these blobs, in order, from one `git cat-file --batch`."""
    if not shas:
        return []
    try:
        result = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=top,
            input="".join(f"{sha}\n" for sha in shas).encode(),
            capture_output=True,
            timeout=120,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if result.returncode != 0:
        raise GitError("git cat-file --batch: failed")
    out, position, contents = result.stdout, 0, []
    for sha in shas:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"git cat-file: cannot read blob {sha}")
        size = int(header[2])
        contents.append(out[header_end + 1 : header_end + 1 + size])
        position = header_end + 1 + size + 1  # the content is followed by a newline
    return contents
