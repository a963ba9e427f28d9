"""Work done on a second core by a forked copy of this process (half of a fleet's specs, validated).

A fork shares everything already loaded and parsed, starts in milliseconds and needs nothing sent
to it; its answer comes back pickled through a pipe. Two rules keep it safe:

- only a process with one thread forks: a fork copies the calling thread alone, and a lock that
  another thread held (an import, a logging handler) would never be released in the copy;
- the copy never returns into its caller's code: it leaves with `os._exit` whatever happens, so
  no buffered output, `atexit` handler or `finally` of the caller runs twice.

Any failure of the copy (an exception, a signal, an answer that does not unpickle) makes
`result()` None, and the caller does that work itself: a second core only ever saves time.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Any, Callable, Optional


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether this process may fork a copy to work beside it."""
    return hasattr(os, "fork") and threading.active_count() == 1


class Forked:
    """`function()` run in a forked copy of this process, started at once."""

    def __init__(self, function: Callable[[], Any]):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy
            code = 1
            try:
                os.close(read)
                answer = pickle.dumps(function(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(answer)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid: Optional[int] = pid
        self._read = read

    def result(self) -> Optional[Any]:
        """The copy's answer (waiting for it), or None if it failed in any way."""
        with os.fdopen(self._read, "rb") as pipe:
            answer = pipe.read()
        status = self._reaped()
        if status != 0:
            return None
        try:
            return pickle.loads(answer)
        except Exception:  # a truncated answer: the copy's share is done again by the caller
            return None

    def cancel(self) -> None:
        """Stop the copy (the caller was interrupted): nothing of it is left running."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - it had already ended
            pass
        self._reaped()
        try:
            os.close(self._read)
        except OSError:  # already closed by result()
            pass

    def _reaped(self) -> int:
        pid, self.pid = self.pid, None
        if pid is None:
            return -1
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
