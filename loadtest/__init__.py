"""Load tests: `python -m loadtest.bench` (the edge against nginx on one core), `loadtest.seed`
(bulk contacts and issued codes), and `locustfile.py` (the same traffic mix for a deployment)."""

from __future__ import annotations

import argparse


def script_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of ``python -m <module>``, its docstring (line breaks kept) as help."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
