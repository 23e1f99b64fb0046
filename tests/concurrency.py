"""Races for the tests that prove a rule holds under concurrency: the calls start together in their own
threads (each with its own database connection, closed at the end)."""

from __future__ import annotations

import threading

from django.db import connection


def at_once(*calls) -> list:
    """Run each zero-argument call in its own thread, released together by a barrier, and return what each
    returned, in order. A call's exception is raised here once every thread has ended (in a thread it
    would otherwise vanish)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - raised again below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
