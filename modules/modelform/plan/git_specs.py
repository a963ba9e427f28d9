"""Spec files as they were at a git revision, read with `git show` (no checkout, no worktree)."""

from __future__ import annotations

import os
import subprocess

from ..spec.loader import SPEC_SUFFIXES


class GitError(Exception):
    """git could not answer; the message is one line for the user."""


def _git(args: list[str], cwd: str) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return result.stdout


def spec_texts_at(revision: str, specs_dir: str) -> list[tuple[str, bytes]]:
    """Every spec file under `specs_dir` at `revision`, named as the working tree would name it
    (relative to the current directory), so plans of both sides line up stack by stack."""
    folder = os.path.abspath(specs_dir)
    top = _git(["rev-parse", "--show-toplevel"], cwd=folder if os.path.isdir(folder) else os.getcwd()).decode().strip()
    _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=top)
    relative = os.path.relpath(folder, top)
    listing = _git(["ls-tree", "-r", "--name-only", revision, "--", relative], cwd=top).decode().splitlines()
    texts = []
    for path in sorted(p for p in listing if p.endswith(SPEC_SUFFIXES)):
        shown = os.path.normpath(os.path.relpath(os.path.join(top, path)))
        texts.append((shown, _git(["show", f"{revision}:{path}"], cwd=top)))
    return texts
