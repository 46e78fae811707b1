"""py-spy on the edge's worker under load (`python -m loadtest.bench --profile`): a flame graph
and a summary of where the samples fall.

py-spy is not a dependency of the project: `pip install py-spy` into the venv first. The
profile is taken in an extra full-load run, so the measured runs are not slowed by sampling.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Where a frame's file says its time goes (checked in order, first match wins).
GROUPS: tuple[tuple[str, str], ...] = (
    ("starlette/", "Starlette (middleware, routing, responses)"),
    ("edge/wire.py", "edge/wire.py (Redis connection)"),
    ("edge/resolve.py", "edge/resolve.py (script call, decode)"),
    ("edge/destinations.py", "edge/destinations.py (merge)"),
    ("core/merge.py", "core/merge.py (merge, check)"),
    ("edge/clicks.py", "edge/clicks.py (event, client ip)"),
    ("ipaddress.py", "ipaddress (X-Forwarded-For)"),
    ("edge/classify.py", "edge/classify.py"),
    ("edge/", "edge/ (other)"),
    ("core/", "core/ (other)"),
    ("asyncio/", "asyncio event loop"),
    ("granian", "granian (ASGI glue)"),
    ("urllib/", "urllib.parse"),
)


def find_py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def record(pid: int, seconds: float, out: Path, native: bool = False) -> subprocess.Popen:
    """Start sampling ``pid`` for ``seconds``, writing collapsed stacks to ``out``."""
    spy = find_py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    args = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    args += ["--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]
    if native:
        args.append("--native")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def flamegraph(collapsed: Path, svg: Path) -> bool:
    """An SVG flame graph from the collapsed stacks, when the `flamegraph.pl`-compatible
    renderer of py-spy is not at hand: `inferno-flamegraph` if installed."""
    tool = shutil.which("inferno-flamegraph") or shutil.which("flamegraph.pl")
    if tool is None:
        return False
    with collapsed.open() as src, svg.open("w") as dst:
        return subprocess.run([tool], stdin=src, stdout=dst).returncode == 0


def _frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if f]


def summarize(collapsed: Path, top: int = 15) -> dict[str, object]:
    """Self time by function (the leaf frame) and by group (the innermost frame of ours or of a
    library we can name), as shares of all samples of the worker's threads."""
    by_leaf: Counter[str] = Counter()
    by_group: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        by_leaf[frames[-1]] += count
        group = "other (idle, interpreter, C)"
        for frame in reversed(frames):
            hit = next((name for key, name in GROUPS if key in frame), None)
            if hit:
                group = hit
                break
        by_group[group] += count
    if not total:
        return {"samples": 0, "functions": [], "groups": []}
    return {
        "samples": total,
        "functions": [(f, n / total) for f, n in by_leaf.most_common(top)],
        "groups": [(g, n / total) for g, n in by_group.most_common()],
    }


def render(summary: dict[str, object]) -> str:
    lines = [f"py-spy: {summary['samples']} samples of the edge worker"]
    lines.append("  self time by area:")
    for name, share in summary["groups"]:  # type: ignore[attr-defined]
        lines.append(f"    {share:6.1%}  {name}")
    lines.append("  self time by function:")
    for name, share in summary["functions"]:  # type: ignore[attr-defined]
        lines.append(f"    {share:6.1%}  {name}")
    return "\n".join(lines)
