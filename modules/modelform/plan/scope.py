"""Which stacks a change can affect, and the base side of `diff --base REF` planned with REF's own
code and specs.

Selection, from the files that differ between REF and the working tree:
- the program (`modules/`, `stacks/`, the dependency pins) changed: every stack;
- the Platform spec changed: every stack (model stacks read its outputs);
- a model's spec changed: that model;
- a file under a model's code folder (`model.code`, e.g. `model_code/train.py`) changed: every model
  that ships that folder.
Each selected stack carries the rule that selected it, for the diff's readers.

When only specs differ, the base side is the current program run on REF's spec files (in
process, fast). When the program or a model's code differs, the base plan runs in a temporary `git
worktree` of REF, as a separate process (importing REF's own package from `<worktree>/modules`
when the repository carries it, the installed one otherwise), so a change to a component or to
the model code shows up as the resource changes it causes, not as "no changes".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Optional

from ..spec import SpecSet
from ..spec.loader import SPEC_SUFFIXES
from .git_specs import GitError, run_git

#: Where modelform writes its build outputs, relative to the repository root.
OUTPUT_FOLDER = ".modelform/"
#: Paths whose change can change any stack: the programs and what they run on.
PROGRAM_PATHS = ("modules/", "stacks/", "pyproject.toml", "requirements.lock")


@dataclass(frozen=True)
class Scope:
    """`everything`: why every stack is planned (None when only some are); `models`: the selected
    model stacks by model name, each with its reason."""

    everything: Optional[str]
    models: dict[str, str]
    #: The program or a model's code differs at REF: only REF's own code can plan its side.
    code_changed: bool = False

    @property
    def model_names(self) -> Optional[set[str]]:
        return None if self.everything else set(self.models)

    def reason(self, stack: str, kind: str, model: str) -> str:
        if self.everything:
            return self.everything
        return self.models.get(model, "not selected")


def changed_files(revision: str, top: str) -> list[str]:
    """Repository-relative paths that differ between `revision` and the working tree (untracked
    files included)."""
    run_git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=top)
    tracked = run_git(["diff", "--name-only", "--no-renames", revision, "--"], cwd=top).decode().splitlines()
    untracked = run_git(["ls-files", "--others", "--exclude-standard"], cwd=top).decode().splitlines()
    # modelform's own build outputs (source archives) are never inputs, ignored by git or not.
    return sorted(p for p in set(tracked) | set(untracked) if not p.startswith(OUTPUT_FOLDER))


def changed_spec_files(changed: list[str], top: str, specs_dir: str) -> Optional[set[str]]:
    """The absolute paths of the changed files when every one of them is a spec file under
    `specs_dir`; None when anything else changed (then any model may be affected, and every spec
    is read to know which)."""
    folder = os.path.abspath(specs_dir) + os.sep
    paths = {os.path.normpath(os.path.join(top, path)) for path in changed}
    if all(path.startswith(folder) and path.endswith(SPEC_SUFFIXES) for path in paths):
        return paths
    return None


def select(changed: list[str], head: SpecSet, base: SpecSet, environment: str, top: str) -> Scope:
    program = [path for path in changed if path.startswith(PROGRAM_PATHS)]
    if program:
        return Scope(f"the program changed ({program[0]}{' and more' if len(program) > 1 else ''})", {}, True)
    changed_abs = {os.path.normpath(os.path.join(top, path)) for path in changed}
    for specs in (head, base):
        platform = specs.platform(environment)
        if platform is not None and os.path.abspath(platform.source) in changed_abs:
            return Scope("the platform spec changed", {})
    models: dict[str, str] = {}
    code_changed = False
    for specs in (head, base):
        root = specs.root or top
        for model in specs.models(environment):
            if os.path.abspath(model.source) in changed_abs:
                models.setdefault(model.name, "its spec changed")
                continue
            code = os.path.normpath(os.path.join(root, model.model.code)) + os.sep
            touched = sorted(p for p in changed if os.path.normpath(os.path.join(top, p)).startswith(code))
            if touched:
                code_changed = True
                models.setdefault(
                    model.name, f"its code changed ({touched[0]}{' and more' if len(touched) > 1 else ''})"
                )
    return Scope(None, dict(sorted(models.items())), code_changed)


def plan_at_revision(revision: str, top: str, specs_dir: str, environment: str, models: Optional[set[str]]) -> dict:
    """The plan of `environment` at `revision`, with that revision's code: a temporary worktree and
    its own `modelform` in a separate process. Only the selected model stacks are kept."""
    folder = tempfile.mkdtemp(prefix="modelform-base-")
    worktree = os.path.join(folder, "tree")
    try:
        run_git(["worktree", "add", "--detach", "--quiet", worktree, revision], cwd=top)
        relative_specs = os.path.relpath(os.path.abspath(specs_dir), top)
        out = os.path.join(folder, "plan.json")
        command = [sys.executable, "-m", "modelform", "plan", "--env", environment]
        command += ["--specs", relative_specs, "--root", worktree, "--format", "json", "--out", out]
        environment_variables = dict(os.environ)
        if os.path.isdir(os.path.join(worktree, "modules", "modelform")):
            # The repository carries the program itself: plan the base with its own version of it.
            environment_variables["PYTHONPATH"] = os.path.join(worktree, "modules")
        narrowed = command + ([f"--model={m}" for m in sorted(models)] if models else ["--platform-only"])
        if models is None:
            narrowed = command
        result = subprocess.run(narrowed, cwd=worktree, env=environment_variables, capture_output=True, text=True)
        if result.returncode == 2 and not os.path.exists(out) and narrowed is not command:
            # An older modelform at REF, without --model: plan all of it (and keep the selection below).
            result = subprocess.run(command, cwd=worktree, env=environment_variables, capture_output=True, text=True)
        if not os.path.exists(out):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise GitError(f"the plan at {revision} failed: {last}")
        with open(out, encoding="utf-8") as handle:
            plan = json.load(handle)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", worktree], cwd=top, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    if models is not None:
        plan["stacks"] = [
            s for s in plan["stacks"] if s["kind"] == "Platform" or s["stack"].rsplit(".", 1)[0] in models
        ]
    return plan
