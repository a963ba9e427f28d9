"""A spec file's history from git: who changed it, when, and why (the commit subject)."""

from __future__ import annotations

from typing import Optional

from ..plan.git_specs import GitError, run_git

#: The most recent changes shown per spec.
LIMIT = 15


def spec_history(path: str, cwd: str) -> Optional[list[dict[str, str]]]:
    """The commits that changed `path`, newest first (renames followed); None outside a git
    repository or without git."""
    try:
        output = run_git(["log", "--follow", f"-n{LIMIT}", "--format=%h%x1f%an%x1f%aI%x1f%s", "--", path], cwd=cwd)
    except GitError:
        return None
    entries = []
    for line in output.decode(errors="replace").splitlines():
        commit, author, when, subject = (line.split("\x1f") + ["", "", "", ""])[:4]
        entries.append({"commit": commit, "author": author, "date": when[:10], "subject": subject})
    return entries
