"""How many bcrypt computations run at once by default: one per CPU this process may use, a
container's CPU limit included (`os.cpu_count()` would count the whole node's cores)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storefront.core.security import PasswordHasher, available_cpus

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", AFFINITY),  # no limit
        ("50000 100000\n", 1),  # half a CPU: still one hash at a time
        ("100000 100000\n", 1),
        (f"{100000 * (AFFINITY + 3)} 100000\n", AFFINITY),  # a limit above the affinity
        ("garbage\n", AFFINITY),
    ],
)
def test_the_default_follows_a_cgroup_cpu_limit(
    tmp_path: Path, cpu_max: str, expected: int
) -> None:
    limit = tmp_path / "cpu.max"
    limit.write_text(cpu_max, encoding="ascii")

    assert available_cpus(limit) == expected


def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert available_cpus(tmp_path / "missing") == AFFINITY


def test_a_configured_concurrency_wins(tmp_path: Path) -> None:
    hasher = PasswordHasher(4, concurrency=3, lock_dir=tmp_path)

    assert hasher.concurrency == 3
    assert hasher.max_waiting == 12  # four waiting checks per concurrent hash
