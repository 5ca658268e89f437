"""What the shipped third-party targets (``targets/*/target.py``) share: where they cache their installs,
a free loopback port, and the ``serve`` / ``install`` command line. Run by the machine's own Python, not
crmload's: standard library only."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar


def cache_dir() -> Path:
    """``$CRMLOAD_TARGETS_CACHE``, default ``~/.cache/crmload/targets``."""
    return Path(os.environ.get("CRMLOAD_TARGETS_CACHE", Path.home() / ".cache" / "crmload" / "targets"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running(Protocol):
    url: str
    testdata: Path

    def alive(self) -> bool: ...

    def stop(self) -> None: ...


T = TypeVar("T", bound=Running)


@contextlib.contextmanager
def running(
    start: Callable[[Path, int | None, tuple[str, ...]], T], workdir: Path, grants: tuple[str, ...]
) -> Iterator[T]:
    """A target started in ``workdir`` on a free port, stopped (every server of it) when the block ends."""
    target = start(workdir, None, grants)
    try:
        yield target
    finally:
        target.stop()


def main(
    name: str,
    doc: str | None,
    install: Callable[[], object],
    start: Callable[[Path, int | None, tuple[str, ...]], Running],
    grant_help: str,
) -> int:
    """``serve [--port N] [--dir DIR] [--grant ROLE:RIGHT]``: start, print the URL and the test data, serve
    until Ctrl-C or SIGTERM (then stop every server started); ``install``: install and initialise only."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["serve", "install"])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--dir", type=Path, default=Path("results") / name.lower())
    ap.add_argument("--grant", action="append", default=[], help=grant_help)
    args = ap.parse_args()
    try:
        if args.command == "install":
            install()
            return 0
        target = start(args.dir.resolve(), args.port, tuple(args.grant))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    print(f"{name} serving {target.url}\ntest data: {target.testdata}\n(Ctrl-C stops it)", flush=True)

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM too stops every server it started (a shell's background job ignores ^C)

    signal.signal(signal.SIGTERM, _stop)
    try:
        while target.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        target.stop()
    return 0
