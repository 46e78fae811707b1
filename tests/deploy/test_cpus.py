"""EDGE_WORKERS=0 sizes the edge by the CPUs the process may use: the cgroup's quota (a
container's CPU limit), not the host's cores. Fake cgroup trees stand in for /sys/fs/cgroup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import cpus
from tests.servers import ROOT

HOST_CORES = len(os.sched_getaffinity(0))


def _v2(tmp_path: Path, path: str, limits: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for where, value in limits.items():
        directory = root / where.strip("/") if where.strip("/") else root
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cpu.max").write_text(value + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{path}\n")
    return root, proc


def test_a_container_quota_counts_not_the_hosts_cores(tmp_path: Path) -> None:
    # Inside a container (cgroup namespace): its own cgroup is the root, "200000 100000" = 2.
    root, proc = _v2(tmp_path, "/", {"/": "200000 100000"})
    assert cpus.cgroup_limit(root, proc) == 2.0
    assert cpus.available(root, proc) == min(2, HOST_CORES)


def test_a_fraction_rounds_up_and_no_quota_means_the_cores(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, "/", {"/": "50000 100000"})
    assert cpus.cgroup_limit(root, proc) == 0.5 and cpus.available(root, proc) == 1
    root, proc = _v2(tmp_path / "b", "/", {"/": "max 100000"})
    assert cpus.cgroup_limit(root, proc) is None and cpus.available(root, proc) == HOST_CORES
    nothing = tmp_path / "missing"
    assert cpus.available(nothing, nothing) == HOST_CORES


def test_the_smallest_limit_on_the_path_applies(tmp_path: Path) -> None:
    # Without a namespace: a limit on a parent slice caps its children.
    root, proc = _v2(
        tmp_path,
        "/system.slice/docker-abc.scope",
        {"/": "max 100000", "/system.slice": "150000 100000", "/system.slice/docker-abc.scope": "max 100000"},
    )
    assert cpus.cgroup_limit(root, proc) == 1.5
    assert cpus.available(root, proc) == min(2, HOST_CORES)


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    directory = root / "cpu,cpuacct" / "docker" / "abc"
    directory.mkdir(parents=True)
    (directory / "cpu.cfs_quota_us").write_text("100000\n")
    (directory / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    assert cpus.cgroup_limit(root, proc) == 1.0 and cpus.available(root, proc) == 1


def test_edge_workers_zero_uses_the_count_and_a_number_wins() -> None:
    code = "from core import config; print(config.load().edge.workers)"

    def workers(value: str) -> int:
        env = {"PATH": os.environ.get("PATH", ""), "EDGE_WORKERS": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
        )
        return int(out.stdout)

    assert workers("0") == cpus.available()
    assert workers("3") == 3


def test_jobs_keep_the_lower_half_of_the_cores_free() -> None:
    # ADMIN_JOB_CPUS (admin/services/jobs.py): auto leaves requests a core no job holds.
    two, four = frozenset({0, 1}), frozenset({0, 1, 2, 3})
    assert cpus.job_cpus("auto", two) == {1}
    assert cpus.job_cpus("auto", four) == {2, 3}
    assert cpus.job_cpus("auto", frozenset({3, 5, 7})) == {5, 7}
    assert cpus.job_cpus("auto", frozenset({0})) == {0}  # one core: nothing to keep free
    assert cpus.job_cpus("all", four) == four
    assert cpus.job_cpus("0,3", four) == {0, 3}
    assert cpus.job_cpus("6-7", four) == four  # none of the listed ones is ours: all of ours
    assert cpus.parse_cpu_list("0,4-5, 7") == {0, 4, 5, 7}
    assert cpus.job_cpus("auto") == cpus.job_cpus("auto", frozenset(os.sched_getaffinity(0)))
