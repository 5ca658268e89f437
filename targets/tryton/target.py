"""Tryton as a crmload target: installed from PyPI into a virtual environment of its own, a SQLite
database initialised once (then copied), seeded with role users, customers and opportunities, and
served on 127.0.0.1.

    python targets/tryton/target.py serve [--port 8000] [--dir DIR] [--grant ROLE:GROUP]

prints the target URL and the test-data file, and serves until Ctrl-C; then, in another shell:

    crmload run targets/tryton/smoke.yaml --target URL \\
        --adapter crmload.loadtests.adapters.tryton:TrytonCRM --testdata DIR/testdata.json

The virtual environment and the initialised database are cached under ``$CRMLOAD_TARGETS_CACHE``
(default ``~/.cache/crmload/targets``): the first start takes about a minute (install and
``trytond-admin``), later ones a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import targetkit  # noqa: E402  (targets/targetkit.py)
from targetkit import cache_dir, free_port  # noqa: E402

# the versions CI runs (Tryton 7.0 is a long-term-support series)
PACKAGES = (
    "trytond==7.0.59",
    "trytond-party==7.0.8",
    "trytond-company==7.0.4",
    "trytond-sale==7.0.20",
    "trytond-sale-opportunity==7.0.5",
)
MODULES = ("party", "company", "sale", "sale_opportunity")
DATABASE = "crm"
ADMIN_PASSWORD = "admin-pw-Tryton"


def _key() -> str:
    import hashlib

    return hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]


def ensure_installed() -> Path:
    """The Tryton virtual environment (created once); returns its ``bin`` directory."""
    venv = cache_dir() / f"tryton-{_key()}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
        (venv / ".installed").write_text("\n".join(PACKAGES))
    return venv / "bin"


def _config(workdir: Path, port: int) -> Path:
    conf = workdir / "trytond.conf"
    conf.write_text(
        f"[database]\nuri = sqlite://\npath = {workdir}\n[web]\nlisten = 127.0.0.1:{port}\n"
        "[session]\nmax_attempt = 1000\n"
    )
    return conf


def _template(bin_dir: Path) -> Path:
    """An initialised, unseeded database (``trytond-admin --all``, about 30 s), made once."""
    tdir = cache_dir() / f"tryton-{_key()}-db"
    db = tdir / f"{DATABASE}.sqlite"
    if not (tdir / ".ready").exists():
        shutil.rmtree(tdir, ignore_errors=True)
        tdir.mkdir(parents=True)
        db.touch()
        (tdir / "pass").write_text(ADMIN_PASSWORD)
        env = dict(os.environ, TRYTONPASSFILE=str(tdir / "pass"))
        subprocess.run(
            [str(bin_dir / "trytond-admin"), "-c", str(_config(tdir, 0)), "-d", DATABASE, "--all",
             "--email", "admin@tryton.example", "-u", *MODULES, "--activate-dependencies"],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        (tdir / ".ready").touch()
    return db


@dataclass
class Tryton:
    """A running Tryton target."""

    url: str
    testdata: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(workdir: Path, port: int | None = None, grants: tuple[str, ...] = ()) -> Tryton:
    """Install (once), copy the initialised database into ``workdir``, seed it (``grants``: see
    ``seed.py``) and serve it on 127.0.0.1; returns when it answers."""
    bin_dir = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template(bin_dir), workdir / f"{DATABASE}.sqlite")
    port = port or free_port()
    conf = _config(workdir, port)
    testdata = workdir / "testdata.json"
    seed = [str(bin_dir / "python"), str(HERE / "seed.py"), str(conf), DATABASE, str(testdata)]
    subprocess.run([*seed, *(a for g in grants for a in ("--grant", g))], check=True, capture_output=True)
    with (workdir / "trytond.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([str(bin_dir / "trytond"), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"trytond exited with {proc.returncode}; see {workdir / 'trytond.log'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return Tryton(f"http://127.0.0.1:{port}/{DATABASE}", testdata, proc)
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"trytond did not listen on 127.0.0.1:{port} within 60 s")


def running(workdir: Path, grants: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[Tryton]:
    """Tryton started in ``workdir`` (``start``), stopped when the block ends."""
    return targetkit.running(start, workdir, grants)


def main() -> int:
    return targetkit.main(
        "Tryton", __doc__, lambda: _template(ensure_installed()), start, "ROLE:GROUP, a right the matrix refuses"
    )


if __name__ == "__main__":
    sys.exit(main())
