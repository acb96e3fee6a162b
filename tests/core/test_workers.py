"""Worker processes (core.workers): spawned with this Python, results in order, a broken pool falls back."""

from __future__ import annotations

import os
import subprocess
import sys

from building_extractor.core.workers import WORKERS_VARIABLE, ordered_map, process_pool, python_executable, worker_count


def double_range(first: int, end: int) -> list[int]:
    return [2 * value for value in range(first, end)]


def die_in_a_worker(parent_pid: int, value: int) -> int:
    """Kills the worker process that runs it (as a crash would); returns ``value`` in the parent."""
    if os.getpid() != parent_pid:
        os._exit(3)
    return value


def test_python_executable_runs_this_python_version() -> None:
    version = subprocess.run([python_executable(), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == str(sys.version_info[:2])


def test_ordered_map_in_worker_processes_keeps_the_order_of_jobs() -> None:
    jobs = [(first, first + 3) for first in range(0, 30, 3)]
    with process_pool(2) as pool:
        assert pool is not None
        results = list(ordered_map(double_range, jobs, pool, ahead=3))
        assert {os.getpid()} != {process.pid for process in pool._processes.values()}  # really elsewhere
    assert results == [double_range(*job) for job in jobs]


def test_a_broken_pool_falls_back_to_this_process_once() -> None:
    messages: list[str] = []
    jobs = [(os.getpid(), value) for value in range(6)]
    with process_pool(2) as pool:
        results = list(ordered_map(die_in_a_worker, jobs, pool, ahead=4, on_fallback=messages.append))
    assert results == list(range(6))
    assert len(messages) == 1 and "continuing in this process" in messages[0]


def test_worker_count_from_the_environment_or_the_job_size(monkeypatch) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, "3")
    assert worker_count(small_job=True) == 3
    monkeypatch.delenv(WORKERS_VARIABLE)
    assert worker_count(small_job=True) == 1
    assert 1 <= worker_count(small_job=False) <= 8
    with process_pool(1) as pool:
        assert pool is None


def test_overlapping_pools_restore_the_spawn_interpreter_after_the_last_one() -> None:
    from multiprocessing import spawn

    before = spawn.get_executable()
    with process_pool(2) as first:
        with process_pool(2) as second:
            assert first is not None and second is not None
            assert list(ordered_map(double_range, [(0, 2)], second, ahead=1)) == [[0, 2]]
        assert spawn.get_executable() == os.fsencode(python_executable())  # the first pool still runs
        assert list(ordered_map(double_range, [(1, 3)], first, ahead=1)) == [[2, 4]]
    assert spawn.get_executable() == before
