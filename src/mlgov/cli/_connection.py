"""Which server the CLI talks to, and with which key.

Each of the URL and the key comes from, first to last: the environment (``MLGOV_URL``,
``MLGOV_API_KEY``), the selected profile in ``$MLGOV_HOME/config.toml``, the default. The profile
is ``--profile NAME``, else ``MLGOV_PROFILE``, else ``default``; naming a profile that does not
exist is an error, a missing ``default`` profile is not. The file looks like::

    [profiles.default]
    url = "http://127.0.0.1:8640"
    api_key = "mlgov_key_....secret"
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgov.cli._output import ConfigError
from mlgov.sdk import Client

DEFAULT_URL = "http://127.0.0.1:8640"
DEFAULT_PROFILE = "default"
URL_ENV = "MLGOV_URL"
KEY_ENV = "MLGOV_API_KEY"
PROFILE_ENV = "MLGOV_PROFILE"
HOME_ENV = "MLGOV_HOME"

# The --profile of this invocation; set by the root callback before any command runs.
_selected_profile: str | None = None


def select_profile(name: str | None) -> None:
    global _selected_profile
    _selected_profile = name


def mlgov_home(environ: Mapping[str, str] | None = None) -> Path:
    # The same rule as Settings.home, read directly: client commands must not fail on server-only
    # settings they never use.
    environ = os.environ if environ is None else environ
    raw = environ.get(HOME_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".mlgov"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    return mlgov_home(environ) / "config.toml"


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str | None
    profile: str | None
    """The profile that was read, or None when the selected one is not in the file."""


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def read_profiles(path: Path) -> dict[str, dict[str, Any]]:
    profiles = read_config(path).get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(f"{path}: `profiles` must be tables, like [profiles.default]")
    return profiles


def resolve(profile: str | None = None, environ: Mapping[str, str] | None = None) -> Connection:
    """Where to connect for ``profile`` (the --profile value; None when not given)."""
    environ = os.environ if environ is None else environ
    name = profile or environ.get(PROFILE_ENV) or None
    explicit = name is not None
    name = name or DEFAULT_PROFILE
    path = config_path(environ)
    profiles = read_profiles(path)
    entry = profiles.get(name)
    if entry is None and explicit:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"no profile {name!r} in {path} (profiles there: {known})")
    entry = entry or {}
    for field in ("url", "api_key"):
        if field in entry and not isinstance(entry[field], str):
            raise ConfigError(f"{path}: profiles.{name}.{field} must be a string")
    return Connection(
        url=environ.get(URL_ENV) or entry.get("url") or DEFAULT_URL,
        api_key=environ.get(KEY_ENV) or entry.get("api_key") or None,
        profile=name if profiles.get(name) is not None else None,
    )


def make_client() -> Client:
    """A client for this invocation's connection. Tests replace this to reach an in-process app."""
    connection = resolve(_selected_profile)
    if not connection.api_key:
        where = f"profile {connection.profile!r}" if connection.profile else "the environment"
        raise ConfigError(
            f"no API key in {where}: set {KEY_ENV}, or add api_key to a profile in "
            f"{config_path()} (`mlgov init --save-profile default` writes one)"
        )
    return Client(connection.url, connection.api_key)


@contextmanager
def connect() -> Iterator[Client]:
    # Looked up on the module at call time so a test's replacement of make_client takes effect.
    client = make_client()
    try:
        yield client
    finally:
        client.close()


# --- writing profiles ----------------------------------------------------------------------------


def save_profile(name: str, url: str, api_key: str, path: Path | None = None) -> Path:
    """Add or replace one profile, keeping the others; the file is written 0600 (it holds keys)."""
    path = path or config_path()
    config = read_config(path)
    profiles = config.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: `profiles` must be tables, like [profiles.default]")
    profiles[name] = {**profiles.get(name, {}), "url": url, "api_key": api_key}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Write beside the target and rename, so a crash never leaves a half-written file, and create
    # it 0600 from the start so the key is never readable by others, not even briefly.
    fd, temp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dump_toml(config))
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def dump_toml(config: Mapping[str, Any]) -> str:
    """TOML for the plain shapes config.toml holds: scalars, lists of scalars, nested tables."""
    lines: list[str] = []
    _dump_table(config, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _dump_table(table: Mapping[str, Any], prefix: tuple[str, ...], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    if prefix and (scalars or not tables):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in prefix)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _dump_table(value, (*prefix, key), lines)


def _key(key: str) -> str:
    bare = key.replace("-", "").replace("_", "").isalnum() and key.isascii()
    return key if bare else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} values to config.toml")
