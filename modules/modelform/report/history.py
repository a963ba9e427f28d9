"""A spec file's history from git: who changed it, when, and why (the commit subject)."""

from __future__ import annotations

import subprocess
from typing import Optional

#: The most recent changes shown per spec.
LIMIT = 15


def spec_history(path: str, cwd: str) -> Optional[list[dict[str, str]]]:
    """The commits that changed `path`, newest first (renames followed); None outside a git
    repository or without git."""
    command = ["git", "log", "--follow", f"-n{LIMIT}", "--format=%h%x1f%an%x1f%aI%x1f%s", "--", path]
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    entries = []
    for line in result.stdout.splitlines():
        commit, author, when, subject = (line.split("\x1f") + ["", "", "", ""])[:4]
        entries.append({"commit": commit, "author": author, "date": when[:10], "subject": subject})
    return entries
