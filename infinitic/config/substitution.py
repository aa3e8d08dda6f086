"""`${VAR}` and `${VAR:-default}` in the values of a YAML config, from the environment.

Only values are substituted (never keys), after the YAML is parsed, so a value from the
environment cannot change the structure of the file. A value that is a single reference
(`concurrency: ${WORKERS:-4}`) takes the YAML type of its text (a number, a boolean), except
under a secret key (password, token...): a secret always stays a string. `$${` writes a
literal `${`. An unset variable without a default is an error naming the key and the variable,
never a value: what comes from the environment is not shown in errors or logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .secrets import is_secret_key

_REFERENCE = re.compile(
    r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\$\{)"
)


def substitute(
    value: Any,
    problems: list[ConfigError],
    source: str,
    key: str = "",
    environ: Mapping[str, str] | None = None,
) -> Any:
    """A copy of `value` (parsed YAML) with its references replaced; each error is appended to
    `problems` (the value is then left as written)."""
    env = os.environ if environ is None else environ
    if isinstance(value, Mapping):
        return {
            k: substitute(v, problems, source, f"{key}.{k}" if key else str(k), env)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, problems, source, f"{key}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    return _substitute_text(value, problems, source, key, env)


def _substitute_text(
    text: str, problems: list[ConfigError], source: str, key: str, env: Mapping[str, str]
) -> Any:
    missing: list[str] = []
    malformed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed
        if match.group(0) == "$${":
            return "${"
        if match.group("bad"):
            malformed = True
            return match.group(0)
        name = match.group("name")
        found = env.get(name)
        if found:  # `:-`: the default also replaces an empty value, as in a shell
            return found
        default = match.group("default")
        if default is not None:
            return default
        if found is None:
            missing.append(name)
        return ""

    result = _REFERENCE.sub(replace, text)
    where = f"{source}: {key or 'the top level'}"
    if malformed:
        problems.append(
            ConfigError(
                f"{where}: a '${{' that is not a reference: write ${{NAME}} or "
                "${NAME:-default} (NAME: letters, digits, _), or $${ for a literal '${'"
            )
        )
        return text
    if missing:
        names = ", ".join(missing)
        problems.append(
            ConfigError(
                f"{where}: environment variable {names} is not set: set it, or give a default "
                f"with ${{{missing[0]}:-default}}"
            )
        )
        return text
    single = _REFERENCE.fullmatch(text)
    if single and single.group("name") and not is_secret_key(key.rsplit(".", 1)[-1]):
        return _typed(result)
    return result


def _typed(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, int, float)) else text
