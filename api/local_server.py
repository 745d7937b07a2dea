"""Run ``utm6g serve`` as a child process on loopback: for the demo, the benchmarks and the end-to-end tests.

Layer: api.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["LocalServer", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """``with LocalServer(db, public_key) as server: httpx.get(server.url + ...)``; 127.0.0.1 only.

    The server is a real uvicorn process (one worker) started from this interpreter's ``api.cli``;
    :meth:`kill` sends SIGKILL (durability tests), leaving the database as a crash would.
    """

    def __init__(
        self,
        db_path: Path,
        public_key: Path,
        *,
        audience: str = "localhost",
        port: int | None = None,
        log_path: Path | None = None,
        runs_dir: Path | None = None,
        tile_url: str | None = None,
    ) -> None:
        self.db_path, self.public_key, self.audience = db_path, public_key, audience
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or db_path.with_suffix(".log")
        self.runs_dir = runs_dir
        self.tile_url = tile_url
        self._process: subprocess.Popen | None = None

    def start(self, *, timeout_s: float = 60.0) -> LocalServer:
        """Start the process and wait until it answers, or raise with the tail of its log."""
        cmd = [sys.executable, "-m", "api.cli", "serve", "--db", str(self.db_path), "--host", "127.0.0.1"]
        cmd += [
            "--port",
            str(self.port),
            "--audience",
            self.audience,
            "--jwt-public-key",
            str(self.public_key),
        ]
        if self.runs_dir is not None:
            cmd += ["--runs", str(self.runs_dir)]
        if self.tile_url is not None:
            cmd += ["--tiles", self.tile_url]
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"utm6g serve did not come up on {self.url}:\n{tail}")

    def kill(self) -> None:
        """SIGKILL, as a crash would; no shutdown handlers run."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM), then kill if it lingers."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
