"""Fault injection for the fake register: the next responses fail in the ways the real service can."""

from __future__ import annotations

import threading


class Faults:
    """Fault injection for tests: the next responses fail in the ways the real service can."""

    def __init__(self):
        self.lock = threading.Lock()
        self._queue: list[dict] = []

    def add(self, kind: str, *, count: int = 1, path: str = "", **options) -> None:
        """kind: "status" (status=, retry_after=), "slow" (seconds=), "truncate", "garbage"."""
        with self.lock:
            for _ in range(count):
                self._queue.append({"kind": kind, "path": path, **options})

    def clear(self) -> None:
        with self.lock:
            self._queue.clear()

    def take(self, path: str) -> dict | None:
        with self.lock:
            for i, fault in enumerate(self._queue):
                if fault["path"] in path:
                    return self._queue.pop(i)
        return None
