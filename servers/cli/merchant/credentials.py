"""Where the merchant CLI finds its key and the gateway.

The key: PAYGATE_API_KEY, else the config file `paygate login` wrote. The gateway:
PAYGATE_API_URL (http://host:port is h2c, https://host:port is TLS, verified against the
system's CAs or PAYGATE_CA_FILE), else the config file, else http://127.0.0.1:50051.

The config file (PAYGATE_CONFIG, default $XDG_CONFIG_HOME/paygate/config.json) holds a
secret key, so it is written with mode 0600 and never read when group or others may
read it: a key another local user could have copied is a leaked key.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:50051"


class CredentialsError(Exception):
    """Why the CLI cannot talk to the gateway; the message tells the user what to do."""


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_url: str
    ca_file: str = ""

    def __repr__(self) -> str:
        return f"Credentials(api_key='{self.api_key[:8]}...', api_url={self.api_url!r})"


def config_path(env: Mapping[str, str]) -> Path:
    if env.get("PAYGATE_CONFIG"):
        return Path(env["PAYGATE_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "paygate" / "config.json"


def read_config(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if stat.S_IMODE(mode) & 0o077:
        raise CredentialsError(
            f"{path} may be read by other users (mode {stat.S_IMODE(mode):04o}): refusing "
            f"to use the key in it. Run `chmod 600 {path}` or `paygate login` again."
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CredentialsError(f"{path} is not a paygate config file: {error}") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def write_config(path: Path, api_key: str, api_url: str) -> None:
    """Writes the file with mode 0600 from its first byte (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"api_key": api_key, "api_url": api_url}, out)
    tmp.replace(path)


def resolve(env: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if env is None else env
    config = read_config(config_path(env))
    api_key = env.get("PAYGATE_API_KEY") or config.get("api_key", "")
    if not api_key:
        raise CredentialsError(
            "No API key: set PAYGATE_API_KEY or run `paygate login` (a secret key, sk_...)."
        )
    api_url = env.get("PAYGATE_API_URL") or config.get("api_url") or DEFAULT_URL
    return Credentials(api_key, api_url, env.get("PAYGATE_CA_FILE", ""))
