"""Starting calls at the same moment, for tests of what happens when they race."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(*calls: Callable[[], object], timeout: float = 60) -> None:
    """Start the calls at the same moment on threads of their own; re-raise any failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert errors == []
