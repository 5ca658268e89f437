"""BottleCRM (PyPI ``django-crm``) as a crmload target: its backend installed from PyPI into a Python 3.12
virtual environment of its own, PostgreSQL and Redis from Debian's packages, each started on a free
port of 127.0.0.1, the database migrated once (then copied), seeded with two organisations and
served by gunicorn with a Celery worker.

    python targets/bottlecrm/target.py serve [--port 8000] [--dir DIR] [--grant ROLE:admin]

prints the target URL and the test-data file, and serves until Ctrl-C; then, in another shell:

    crmload run targets/bottlecrm/smoke.yaml --target URL \\
        --adapter crmload.loadtests.adapters.bottlecrm:BottleCRM --testdata DIR/testdata.json

Needs Python 3.12 or later (``python3.12`` on the PATH, or pyenv's), and PostgreSQL's server and
Redis (Debian: ``apt-get install postgresql redis-server``). Run as root, PostgreSQL runs as the
``postgres`` user (it refuses root). The virtual environment and the migrated database are cached
under ``$CRMLOAD_TARGETS_CACHE`` (default ``~/.cache/crmload/targets``): the first start takes about
three minutes (the install and 2 min 20 s of migrations on this 2-core machine), later ones about
30 s (the seed goes through the CRM's API).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import targetkit  # noqa: E402  (targets/targetkit.py)
from targetkit import cache_dir, free_port  # noqa: E402

REQUIREMENTS = HERE / "requirements.txt"
DATABASE, APP_ROLE = "crm", "crm_app"  # the app's role is no superuser: PostgreSQL superusers bypass RLS
SECRET_KEY = "crmload-bottlecrm-test-target-only-0123456789abcdefghij"  # signs JWTs: 32 bytes at least


def _key() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]


def _python312() -> str:
    """A Python 3.12 (the one the requirements were frozen with), else a later one."""
    pyenv = sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.1[2-9].*" / "bin" / "python")))
    for candidate in [*pyenv, *filter(None, (shutil.which(n) for n in ("python3.12", "python3.13")))]:
        ok = (
            subprocess.run(
                [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True
            ).returncode
            == 0
        )
        if ok:
            return candidate
    raise RuntimeError("BottleCRM needs Python 3.12 or later: none found (python3.12 on the PATH, or pyenv's)")


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed (Debian: apt-get install postgresql)")
    return Path(found[-1]).parent


def _redis() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("Redis is not installed (Debian: apt-get install redis-server)")
    return found


def ensure_installed() -> Path:
    """BottleCRM's virtual environment (created once); returns its ``bin`` directory."""
    venv = cache_dir() / f"bottlecrm-{_key()}"
    if not (venv / ".installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([_python312(), "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        (venv / ".installed").touch()
    return venv / "bin"


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _private_dir(prefix: str) -> Path:
    """A directory PostgreSQL's user may own (a pytest or cache directory under /root is closed to it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, "postgres")
    return path


@dataclass
class _Postgres:
    data: Path
    port: int

    def start(self, log: Path) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        cmd = [
            str(_pg_bin() / "pg_ctl"),
            "-D",
            str(self.data / "pgdata"),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data / "postgres.log"),
            "start",
        ]
        with log.open("ab") as out:
            subprocess.run(_as_postgres(cmd), check=True, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        cmd = [str(_pg_bin() / "pg_ctl"), "-D", str(self.data / "pgdata"), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres(cmd), check=False, capture_output=True)

    def sql(self, *statements: str) -> None:
        cmd = [
            str(_pg_bin() / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-d",
            "postgres",
        ]
        for s in statements:
            cmd += ["-c", s]
        subprocess.run(cmd, check=True, capture_output=True)


def _env(pg_port: int, redis_port: int, user: str = APP_ROLE) -> dict[str, str]:
    broker = f"redis://127.0.0.1:{redis_port}/0"
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="crm.settings",
        SECRET_KEY=SECRET_KEY,
        ENV_TYPE="dev",
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DBNAME=DATABASE,
        DBUSER=user,
        DBPASSWORD="",
        DBHOST="127.0.0.1",
        DBPORT=str(pg_port),
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )


def _template(bin_dir: Path) -> Path:
    """A migrated, unseeded PostgreSQL data directory (``migrate``, about 2 min 20 s here), made once."""
    tdir = cache_dir() / f"bottlecrm-{_key()}-pgdata"
    if (tdir / ".ready").exists():
        return tdir
    work = _private_dir("crmload-bottlecrm-template-")
    try:
        pgdata = work / "pgdata"
        subprocess.run(
            _as_postgres(
                [str(_pg_bin() / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        pg = _Postgres(work, free_port())
        pg.start(work / "template.log")
        try:
            pg.sql(f"CREATE ROLE {APP_ROLE} LOGIN", f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}")
            subprocess.run(
                [str(bin_dir / "django-admin"), "migrate", "--no-input"],
                env=_env(pg.port, 1),
                cwd=work,
                check=True,
                capture_output=True,
            )
        finally:
            pg.stop()
        shutil.rmtree(tdir, ignore_errors=True)
        shutil.copytree(pgdata, tdir, symlinks=True)
        (tdir / ".ready").touch()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tdir


@dataclass
class BottleCRM:
    """A running BottleCRM target."""

    url: str
    testdata: Path
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    postgres: _Postgres | None = None

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.postgres is not None:
            self.postgres.stop()
            shutil.rmtree(self.postgres.data, ignore_errors=True)
            self.postgres = None


def _wait_http(url: str, procs: list[subprocess.Popen[bytes]], log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                program = proc.args[0] if isinstance(proc.args, list) else proc.args
                raise RuntimeError(f"{program!s} exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"BottleCRM did not answer {url} within {seconds:.0f} s; see {log}")


def start(workdir: Path, port: int | None = None, grants: tuple[str, ...] = (), workers: int = 2) -> BottleCRM:
    """Install (once), copy the migrated database, start PostgreSQL, Redis, gunicorn (``workers``
    processes of 4 threads) and a Celery worker on 127.0.0.1, seed (``grants``: see ``seed.py``);
    returns when the API answers."""
    bin_dir = ensure_installed()
    template = _template(bin_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "bottlecrm.log"
    pg = _Postgres(_private_dir("crmload-bottlecrm-"), free_port())
    shutil.copytree(template, pg.data / "pgdata", symlinks=True, ignore=shutil.ignore_patterns(".ready"))
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres", str(pg.data)], check=True)
    target = BottleCRM("", workdir / "testdata.json", workdir, postgres=pg)
    try:
        pg.start(log)
        redis_port, port = free_port(), port or free_port()
        env = _env(pg.port, redis_port)
        with log.open("ab") as out:  # each child keeps its own copy of the descriptor
            target.processes.append(
                subprocess.Popen(
                    [_redis(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
            users = workdir / "users.json"
            subprocess.run(
                [
                    str(bin_dir / "python"),
                    str(HERE / "seed.py"),
                    "users",
                    str(users),
                    *(a for g in grants for a in ("--grant", g)),
                ],
                env=_env(pg.port, redis_port, user="postgres"),
                cwd=workdir,
                check=True,
                stdout=out,
                stderr=out,
            )
            target.processes.append(
                subprocess.Popen(
                    [str(bin_dir / "celery"), "-A", "crm", "worker", "-c", "1", "--loglevel=WARNING"],
                    env=env,
                    cwd=workdir,  # it writes server.log and security_audit.log there
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
            target.processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "gunicorn"),
                        "crm.wsgi:application",
                        "-w",
                        str(workers),
                        "--threads",
                        "4",
                        "-b",
                        f"127.0.0.1:{port}",
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    cwd=workdir,  # it writes server.log and security_audit.log there
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        target.url = f"http://127.0.0.1:{port}"
        _wait_http(f"{target.url}/healthz/", target.processes, log)
        with log.open("ab") as out:
            subprocess.run(
                [
                    str(bin_dir / "python"),
                    str(HERE / "seed.py"),
                    "records",
                    target.url,
                    str(users),
                    str(target.testdata),
                ],
                check=True,
                stdout=out,
                stderr=out,
            )
    except BaseException:
        target.stop()
        raise
    return target


def running(workdir: Path, grants: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[BottleCRM]:
    """BottleCRM started in ``workdir`` (``start``), stopped when the block ends."""
    return targetkit.running(start, workdir, grants)


def main() -> int:
    return targetkit.main(
        "BottleCRM", __doc__, lambda: _template(ensure_installed()), start, "ROLE:admin, a right the matrix refuses"
    )


if __name__ == "__main__":
    sys.exit(main())
