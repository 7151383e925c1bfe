"""A throwaway PostgreSQL cluster for tests and benchmarks: PostgreSQL's own `initdb` and `pg_ctl`
(from `pg_config --bindir`) start a server on a free loopback port with its data in a temp directory,
and `stop()` removes it. Nothing to install or start by hand.

`initdb` and `pg_ctl` refuse to run as root, so when we are root they run as the unprivileged
`postgres` user through `runuser`, in a directory that user owns.

Run `python tests/pg.py` to keep one running in the foreground for `make dev-postgres` or a benchmark;
it prints the `AURION_DAGSTER_PG_URL` to export and stops the cluster on Ctrl-C.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "postgres"
PG_URL_VAR = "AURION_DAGSTER_PG_URL"  # where dagster_postgres.yaml reads the database URL
DATABASE = "dagster"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or an unprivileged user to run them as root) are missing."""


def server_bindir() -> Path:
    """Where `initdb` and `pg_ctl` are, or PostgresUnavailable saying what is missing."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise PostgresUnavailable(
            "pg_config is not on PATH (install the PostgreSQL server package, e.g. postgresql-15)")
    bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (bindir / name).exists()]
    if missing:
        raise PostgresUnavailable(f"{', '.join(missing)} not found in {bindir} (pg_config --bindir)")
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresCluster:
    """One PostgreSQL server: data, socket and log under `root`, listening on 127.0.0.1:`port` only."""

    bindir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """The URL of its `dagster` database, as dagster-postgres takes it."""
        return f"postgresql://{SERVICE_USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _as_service_user(self, *command: str | Path, timeout: float = 120) -> None:
        argv = [str(part) for part in command]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SERVICE_USER, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}{log}")

    def start(self) -> PostgresCluster:
        self._as_service_user(self.bindir / "initdb", "-D", self.data_dir, "-A", "trust", "-U", SERVICE_USER,
                              "-E", "UTF8", "--no-sync")
        # fsync off: a throwaway cluster never needs to survive a power cut, and the machine is shared
        for attempt in range(3):  # the free port we picked may be taken by someone else before we bind it
            options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            try:
                self._as_service_user(self.bindir / "pg_ctl", "-D", self.data_dir, "-o", options, "-l",
                                      self.log_file, "-w", "-t", "60", "start")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                self.port = _free_port()
        self._as_service_user(self.bindir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SERVICE_USER,
                              DATABASE)
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove everything it wrote. Safe to call twice."""
        if not self.root.exists():
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._as_service_user(self.bindir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL (one fresh Dagster instance each)."""
        self._as_service_user(self.bindir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                              SERVICE_USER, name)
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_cluster() -> PostgresCluster:
    """Start a throwaway cluster on a free loopback port; PostgresUnavailable if it cannot be."""
    bindir = server_bindir()
    root = Path(tempfile.mkdtemp(prefix="aurion-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            shutil.rmtree(root)
            raise PostgresUnavailable(
                f"running as root and there is no {SERVICE_USER!r} user to run initdb as") from None
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = PostgresCluster(bindir, root, _free_port())
    try:
        return cluster.start()
    except BaseException:
        cluster.stop()
        raise


if __name__ == "__main__":
    with start_cluster() as running:
        print(f"PostgreSQL {running.port} on 127.0.0.1, data in {running.root}\n"
              f"export AURION_DAGSTER_PG_URL={running.url}\n(Ctrl-C stops it and removes the data)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
