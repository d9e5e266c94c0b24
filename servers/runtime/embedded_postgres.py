"""A private PostgreSQL from the pgserver wheel, whose life this module owns.

pgserver's own `get_server()` is not used to run the server: its default cleanup stops a
server another process started, its atexit hook leaves stale pid lists after a SIGKILL,
and it cannot tell "still running from a launcher that was killed" from "ours". Only its
binaries (PostgreSQL 16) are used, found without importing the package (its import
warns when XDG_RUNTIME_DIR is unset, an error under pytest's warnings-as-errors):

- first start: `initdb` (trust auth, user `postgres`, UTF-8) into <data_dir>/pg;
- start: `pg_ctl -w start` listening on a Unix socket only (no TCP port to collide on);
  the socket lives in the data dir, or in a short /tmp path when that one is too long;
- a server left running by a launcher that was SIGKILLed is adopted; a postmaster.pid
  whose process is gone (or is no longer a postgres) is removed before starting;
- stop: `pg_ctl -w -m fast stop` (then `-m immediate` if fast did not finish in time);
- as root: PostgreSQL refuses to run as root, so every server-side command runs as the
  system user `pgserver` (created if missing) through `runuser -u pgserver --`, and the
  data dir's parents get o+rx (never put it under a private folder);
- one owner at a time: `start()` holds an exclusive lock on <pgdata>.lock, so a second
  launcher on the same data dir fails fast; `attach()` (used by `paygate migrate` and
  `paygate serve` next to a running launcher) takes no lock and never stops the server.

The URL is `postgresql+asyncpg://postgres@/paygate?host=<socket dir>`; the database
`paygate` is created when missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psutil

from servers.runtime.settings import Settings

DATABASE = "paygate"
SUPERUSER = "postgres"
SYSTEM_USER = "pgserver"  # runs postgres when we are root; the name pgserver itself uses
PORT = 5432  # only names the socket file (.s.PGSQL.5432); nothing listens on TCP
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_START_TIMEOUT = 60
_STOP_TIMEOUT = 30


class EmbeddedPostgresError(RuntimeError):
    pass


class DataDirInUse(EmbeddedPostgresError):
    """Another process owns this data dir's server (a launcher is already running)."""


def _pg_bin() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _pg_bin()


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _asyncpg_url(socket_dir: Path, database: str) -> str:
    return f"postgresql+asyncpg://{SUPERUSER}@/{database}?host={socket_dir}"


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, database: str = DATABASE) -> None:
        self.pgdata = Path(pgdata).expanduser().absolute()
        self.database = database
        self.log_file = self.pgdata / "postgres.log"
        self._lock_file: IO[bytes] | None = None
        self._socket_dir: Path | None = None

    # -- public -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The asyncpg URL of the `paygate` database (the server must be running)."""
        if self._socket_dir is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL is not running")
        return _asyncpg_url(self._socket_dir, self.database)

    def start(self) -> str:
        """Start (initdb on first use) or adopt the server and own it; returns the URL."""
        self._lock()
        try:
            self._prepare_dirs()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            info = self._postmaster()
            if info is not None and info.alive:
                # Left running by a launcher that was killed: it is ours now.
                self._wait_ready()
            else:
                if info is not None:
                    self._remove_stale(info)
                self._pg_ctl_start()
            self._socket_dir = self._running_socket_dir()
            self._ensure_database()
        except BaseException:
            self._unlock()
            raise
        return self.url

    def attach(self) -> str | None:
        """The URL of a server someone else runs on this data dir, or None."""
        info = self._postmaster()
        if info is None or not info.alive or info.status != "ready":
            return None
        self._socket_dir = info.socket_dir
        return self.url

    def stop(self) -> None:
        """Stop the server we started or adopted (no-op when it is not running)."""
        try:
            info = self._postmaster()
            if info is not None and info.alive:
                try:
                    self._pg_ctl(["-w", "-t", str(_STOP_TIMEOUT), "-m", "fast", "stop"])
                except subprocess.CalledProcessError:
                    if self._postmaster_alive():
                        self._pg_ctl(["-w", "-t", str(_STOP_TIMEOUT), "-m", "immediate", "stop"])
        finally:
            self._socket_dir = None
            self._unlock()

    def crash(self) -> None:
        """Stop the server as a power cut would (`-m immediate`: no checkpoint, every
        session cut); it stays ours, and start() brings it back through crash recovery.
        For outage tests (tests/faults/test_outages.py)."""
        self._pg_ctl(["-w", "-t", str(_STOP_TIMEOUT), "-m", "immediate", "stop"])

    def is_running(self) -> bool:
        return self._postmaster_alive()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- commands -----------------------------------------------------------------------

    def _server_command(self, argv: list[str]) -> list[str]:
        """initdb, pg_ctl and postgres refuse root: run them as the pgserver user."""
        if _is_root():
            return ["runuser", "-u", SYSTEM_USER, "--", *argv]
        return argv

    def _run(self, argv: list[str], *, timeout: float) -> str:
        # Output goes to a file, not a pipe: pg_ctl leaves the postmaster holding the
        # inherited descriptors, and reading a pipe to EOF would then hang (pgserver's note).
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    self._server_command(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=timeout,
                    text=True,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
                out.seek(0)
                err.output = out.read()
                raise
            out.seek(0)
            return out.read()

    def _pg_ctl(self, args: list[str]) -> str:
        pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        return self._run([pg_ctl, "-D", str(self.pgdata), *args], timeout=_START_TIMEOUT + 10)

    def _initdb(self) -> None:
        initdb = str(POSTGRES_BIN_PATH / "initdb")
        try:
            self._run(
                [
                    initdb,
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    SUPERUSER,
                ],
                timeout=120,
            )
        except subprocess.CalledProcessError as err:
            raise EmbeddedPostgresError(f"initdb failed in {self.pgdata}:\n{err.output}") from err

    def _pg_ctl_start(self) -> None:
        socket_dir = self._choose_socket_dir()
        options = f"-h '' -k {socket_dir} -p {PORT} -c max_connections=200"
        try:
            self._pg_ctl(
                [
                    "-w",
                    "-t",
                    str(_START_TIMEOUT),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "start",
                ]
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            raise EmbeddedPostgresError(
                f"PostgreSQL did not start in {self.pgdata}:\n{err.output or ''}\n"
                f"{self._log_tail()}"
            ) from err
        self._wait_ready()

    def _ensure_database(self) -> None:
        assert self._socket_dir is not None
        psql = str(POSTGRES_BIN_PATH / "psql")
        base = [psql, "-h", str(self._socket_dir), "-p", str(PORT), "-U", SUPERUSER]
        base += ["-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c"]
        exists = subprocess.run(
            [*base, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        if exists.stdout.strip() != "1":
            subprocess.run(
                [*base, f'CREATE DATABASE "{self.database}"'],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )

    # -- files and processes --------------------------------------------------------------

    def _lock(self) -> None:
        if self._lock_file is not None:
            return
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.pgdata.with_name(self.pgdata.name + ".lock")
        handle = open(lock_path, "a+b")  # noqa: SIM115 (held until stop())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirInUse(
                f"{self.pgdata} is in use by another paygate process (lock {lock_path})"
            ) from None
        self._lock_file = handle

    def _unlock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _prepare_dirs(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if _is_root():
            entry = _ensure_system_user()
            # The pgserver user must reach the data dir and read the wheel's binaries.
            _open_parents(self.pgdata)
            _open_parents(POSTGRES_BIN_PATH)
            _open_tree(POSTGRES_BIN_PATH.parent, files=0o044)
            _open_tree(POSTGRES_BIN_PATH, files=0o055)
            if self.pgdata.stat().st_uid != entry.pw_uid:
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        # PostgreSQL insists on 0700 (or 0750) for its data directory.
        if self.pgdata.stat().st_mode & 0o077 not in (0, 0o050):
            self.pgdata.chmod(0o700)

    def _choose_socket_dir(self) -> Path:
        if len(str(self.pgdata / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        socket_dir = Path(tempfile.gettempdir()) / f"paygate-pg-{digest}"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if _is_root():
            shutil.chown(socket_dir, SYSTEM_USER, SYSTEM_USER)
        return socket_dir

    def _postmaster(self) -> _Postmaster | None:
        return _Postmaster.read(self.pgdata)

    def _postmaster_alive(self) -> bool:
        info = self._postmaster()
        return info is not None and info.alive

    def _remove_stale(self, info: _Postmaster) -> None:
        """A postmaster.pid (and socket lock) whose server died without cleaning up.

        PostgreSQL ignores a pid file of a dead process by itself, but not one whose pid now
        belongs to another process (likely after a reboot or a SIGKILL long ago): it would
        refuse to start. The process is known not to be our postmaster, so both go.
        """
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        if info.socket_dir is not None:
            lock = info.socket_dir / f".s.PGSQL.{PORT}.lock"
            with contextlib.suppress(OSError):
                if _Postmaster.pid_of(lock) == info.pid:
                    lock.unlink()
                    (info.socket_dir / f".s.PGSQL.{PORT}").unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            info = self._postmaster()
            if info is not None and info.alive and info.status == "ready":
                return
            if info is None or not info.alive:
                break
            time.sleep(0.05)
        raise EmbeddedPostgresError(
            f"PostgreSQL in {self.pgdata} is not ready:\n{self._log_tail()}"
        )

    def _running_socket_dir(self) -> Path:
        info = self._postmaster()
        if info is None or info.socket_dir is None:
            raise EmbeddedPostgresError(f"no socket directory in {self.pgdata}/postmaster.pid")
        return info.socket_dir

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _ensure_system_user() -> Any:
    import pwd

    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _open_parents(path: Path) -> None:
    """g+rx,o+rx on every parent folder, so that another user can traverse to `path`."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)


def _open_tree(root: Path, *, files: int) -> None:
    """g+rx,o+rx on folders under `root` and `files` bits on the files in them."""
    for folder, _dirs, names in os.walk(root):
        folder_path = Path(folder)
        mode = folder_path.stat().st_mode
        if mode & 0o055 != 0o055:
            folder_path.chmod(mode | 0o055)
        for name in names:
            file = folder_path / name
            if file.is_symlink():
                continue
            mode = file.stat().st_mode
            if mode & files != files:
                file.chmod(mode | files)


class _Postmaster:
    """The parts of postmaster.pid we use: pid, socket dir, status (lines 1, 5, 8)."""

    def __init__(self, pgdata: Path, lines: list[str]) -> None:
        self.pid = int(lines[0])
        self.socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
        self.status = lines[7].strip() if len(lines) > 7 else ""
        self.alive = self._is_our_postmaster(pgdata)

    @classmethod
    def read(cls, pgdata: Path) -> _Postmaster | None:
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        if not lines or not lines[0].strip().isdigit():
            return None  # being written; the caller retries or treats it as absent
        return cls(pgdata, lines)

    @staticmethod
    def pid_of(lock: Path) -> int | None:
        try:
            first = lock.read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            return None
        return int(first) if first.lstrip("-").isdigit() else None

    def _is_our_postmaster(self, pgdata: Path) -> bool:
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            name = process.name()
            cmdline = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return name.startswith("postgres") and str(pgdata) in " ".join(cmdline)


def embedded_postgres(settings: Settings) -> EmbeddedPostgres:
    """The embedded PostgreSQL of these settings: <data_dir>/pg."""
    return EmbeddedPostgres(Path(settings.data_dir) / "pg")
