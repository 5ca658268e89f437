"""Start the reference CRM: seeded store, uvicorn server, in a thread or as the main program."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from crmload.core.errors import CrmloadError
from crmload.democrm import db
from crmload.democrm.app import create_app
from crmload.democrm.faults import Faults
from crmload.democrm.protocol import HEADER_TIMEOUT_S, bounded_protocol
from crmload.democrm.seed import Manifest, seed
from crmload.democrm.state import CRM

MANIFEST_NAME = "testdata.json"


def prepare_store(
    data_dir: Path, size: str = "small", seed_value: int = 42, keep: bool = False
) -> tuple[Path, Manifest]:
    """Create a fresh store in ``data_dir``, seed it, and write the test-data manifest beside it.

    With ``keep``, a store of this size already in ``data_dir`` (and its manifest) is served as it is,
    with every record written to it since (a restart on the same data); without one, a fresh store.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = data_dir / f"democrm-{size}.sqlite3"
    manifest_path = data_dir / MANIFEST_NAME
    if keep and db_path.exists() and manifest_path.exists():
        kept = Manifest.read(manifest_path)
        if kept.size == size:
            return db_path, kept
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    conn = db.connect(db_path)
    db.create_schema(conn)
    manifest = seed(conn, size, seed_value)
    conn.close()
    manifest.write(data_dir / MANIFEST_NAME)
    return db_path, manifest


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named: asyncio turns Nagle off (TCP_NODELAY) only on connections of sockets made with
    # IPPROTO_TCP. With proto 0, uvicorn's h11 protocol (which writes a response's head and body
    # separately) left every body waiting for the client's delayed ACK: 40 ms on each request
    # that followed another without a pause
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CrmloadError(
            f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc} — fix: stop what uses it, "
            "or pass --port 0 for a free port"
        ) from None
    sock.listen(4096)  # connections wait in the backlog from here on, until the server accepts them
    sock.set_inheritable(True)
    return sock


IDLE_TIMEOUT_S = 30  # s (uvicorn takes whole seconds)


def _config(
    app: Any, host: str, header_timeout_s: float = HEADER_TIMEOUT_S, idle_timeout_s: int = IDLE_TIMEOUT_S
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="auto",
        http=bounded_protocol(header_timeout_s),  # uvicorn's httptools protocol with bounds on slow clients
        backlog=4096,
        timeout_keep_alive=idle_timeout_s,  # idle: between requests, and before the first (democrm.protocol)
    )


class EmbeddedCRM:
    """The reference CRM in a background thread of this process, on a free loopback port.

    >>> with EmbeddedCRM(size="tiny") as crm:
    ...     crm.base_url          # e.g. http://127.0.0.1:41234
    """

    def __init__(
        self,
        size: str = "small",
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        seed_value: int = 42,
        *,
        keep: bool = False,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        idle_timeout_s: int = IDLE_TIMEOUT_S,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="democrm-") if data_dir is None else None
        self.data_dir = data_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.db_path, self.manifest = prepare_store(self.data_dir, size, seed_value, keep=keep)
        self.manifest_path = self.data_dir / MANIFEST_NAME
        app, self.crm = create_app(self.db_path, faults)
        self._sock = bind_socket(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_config(app, host, header_timeout_s, idle_timeout_s))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="democrm", daemon=True
        )

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> CRM:
        return self.crm

    def start(self, timeout_s: float = 10.0) -> EmbeddedCRM:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"reference CRM did not start on {self.base_url} within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()
        self.crm.conn.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> EmbeddedCRM:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def serve(
    host: str,
    port: int,
    size: str,
    data_dir: Path,
    faults: Faults | None = None,
    durable: bool = False,
    keep: bool = False,
) -> None:
    """Seed a fresh store in ``data_dir`` (or, with ``keep``, serve the one there) until interrupted
    (``crmload demo-crm``)."""
    db_path, manifest = prepare_store(data_dir, size, keep=keep)
    app, _crm = create_app(db_path, faults, durable=durable)
    sock = bind_socket(host, port)
    actual = sock.getsockname()[1]
    print(
        f"reference CRM: http://{host}:{actual}  size={size} ({manifest.counts['accounts']} accounts)  "
        f"test data: {data_dir / MANIFEST_NAME}",
        flush=True,
    )
    uvicorn.Server(_config(app, host)).run(sockets=[sock])
