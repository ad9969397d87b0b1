"""Detector settings for the command: one flag per config field, and config files.

The flags are generated from :class:`~streamae.DetectorConfig`: its model
fields give the names, types and defaults, its numpydoc ``Parameters`` section
the help text. A new config field is a new flag with no edit here.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import pydantic

from ..config import DetectorConfig
from ._common import CLIError

__all__ = ["add_config_arguments", "config_flags", "config_from_sources", "load_config_file"]

_NONE_WORDS = {"none", "null", "auto"}
_CONFIG_FLAG_PREFIX = "cfg__"


def _numpydoc_params(doc: str | None) -> dict[str, str]:
    """First sentence of each parameter's description in a numpydoc docstring."""
    text = inspect.cleandoc(doc or "")
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][a-z]+\n-+\n|\Z)", text, re.S | re.M)
    if not match:
        return {}
    params: dict[str, list[str]] = {}
    current = None
    for line in match.group(1).splitlines():
        head = re.match(r"^(\w+) :", line)
        if head:
            current = head.group(1)
            params[current] = []
        elif current and line.startswith(" "):
            params[current].append(line.strip())
    out = {}
    for name, lines in params.items():
        desc = " ".join(lines)
        desc = re.sub(r":(?:class|func|meth):`~?([^`]+)`", r"\1", desc)
        desc = re.sub(r"``([^`]*)``", r"\1", desc)
        sentence = re.split(r"(?<=\.)\s", desc, maxsplit=1)[0]
        out[name] = sentence
    return out


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(args)
    return annotation, False


def _make_converter(flag: str, annotation: Any):
    """An argparse ``type=`` for a field annotation, and a metavar.

    ``Optional`` fields accept ``none`` (also ``null``, ``auto``) for None;
    tuples are comma-separated (``--hidden 64,32``); ``Literal`` fields accept
    their choices. Range checks are left to pydantic, whose messages name the
    field and the bound.
    """
    inner, optional = _unwrap_optional(annotation)
    origin = typing.get_origin(inner)
    if origin is Literal:
        choices = [str(c) for c in typing.get_args(inner)]

        def convert_one(text: str):
            if text not in choices:
                raise argparse.ArgumentTypeError(
                    f"invalid choice {text!r} (choose from {', '.join(choices)}"
                    f"{', none' if optional else ''})")
            return text

        metavar = "{" + ",".join(choices + (["none"] if optional else [])) + "}"
    elif origin is tuple:
        item_type = typing.get_args(inner)[0] if typing.get_args(inner) else str

        def convert_one(text: str):
            parts = [p.strip() for p in text.split(",") if p.strip()]
            try:
                return tuple(item_type(p) for p in parts)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated {item_type.__name__} values such as "
                    f"'64,32', got {text!r}") from None

        metavar = "N,N,..."
    elif inner in (int, float):
        def convert_one(text: str):
            try:
                return inner(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected {'an integer' if inner is int else 'a number'}"
                    f"{' or none' if optional else ''}, got {text!r}") from None

        metavar = "N" if inner is int else "X"
    else:
        convert_one, metavar = str, "VALUE"

    def convert(text: str):
        if optional and text.strip().lower() in _NONE_WORDS:
            return None
        return convert_one(text)

    convert.__name__ = flag
    return convert, metavar


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`DetectorConfig` field, generated from its model fields."""
    group = parser.add_argument_group(
        "detector configuration",
        "One flag per DetectorConfig field; they override --config. 'none' sets an "
        "optional field to None.")
    helps = _numpydoc_params(DetectorConfig.__doc__)
    for name, info in DetectorConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        text = helps.get(name) or info.description or ""
        default = info.get_default(call_default_factory=True)
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        text = f"{text} (default: {'none' if default is None else default})".replace("%", "%%")
        dest = _CONFIG_FLAG_PREFIX + name
        if _unwrap_optional(info.annotation)[0] is bool:
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            convert, metavar = _make_converter(flag, info.annotation)
            group.add_argument(flag, dest=dest, type=convert, metavar=metavar,
                               default=argparse.SUPPRESS, help=text)


def config_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given as flags (field name to value); absent flags are left out."""
    n = len(_CONFIG_FLAG_PREFIX)
    return {k[n:]: v for k, v in vars(args).items() if k.startswith(_CONFIG_FLAG_PREFIX)}


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read detector settings from a TOML, JSON or YAML file.

    The file holds :class:`~streamae.DetectorConfig` fields at its top level,
    or in a ``detector`` table (``[detector]`` in TOML). Dashes in keys are
    read as underscores (``n-clusters`` = ``n_clusters``).

    Parameters
    ----------
    path : path-like
        A ``.toml``, ``.json``, ``.yaml`` or ``.yml`` file.

    Returns
    -------
    dict
        Field name to value, not yet validated.

    Raises
    ------
    CLIError
        If the file is missing, has an unknown extension or cannot be parsed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory(); p = pathlib.Path(tmp.name) / "det.toml"
    >>> _ = p.write_text('[detector]\\nwarmup = 128\\nhidden = [64, 32]\\n')
    >>> load_config_file(p)
    {'warmup': 128, 'hidden': [64, 32]}
    >>> tmp.cleanup()
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json", ".yaml", ".yml"):
        raise CLIError(f"config file {str(path)!r} has an unknown format; expected a .toml, "
                       ".json, .yaml or .yml file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CLIError(f"cannot read config file {str(path)!r}: {err.strerror or err}") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                try:
                    import tomli as tomllib  # type: ignore[no-redef]
                except ModuleNotFoundError:
                    raise CLIError("reading a TOML config needs Python 3.11 or the 'tomli' "
                                   "package; use a JSON or YAML file instead") from None
            data = tomllib.loads(raw.decode("utf-8"))
        elif suffix == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            import yaml

            data = yaml.safe_load(raw.decode("utf-8"))
    except CLIError:
        raise
    except Exception as err:  # each parser has its own error class
        detail = " ".join(str(err).split())
        raise CLIError(f"cannot parse config file {str(path)!r}: {detail}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CLIError(f"config file {str(path)!r} must hold a mapping of DetectorConfig "
                       f"fields, got {type(data).__name__}")
    if set(data) == {"detector"} and isinstance(data["detector"], Mapping):
        data = data["detector"]
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def config_from_sources(file_values: Mapping[str, Any] | None = None,
                        flag_values: Mapping[str, Any] | None = None,
                        file_name: str | None = None, base: Mapping[str, Any] | None = None
                        ) -> DetectorConfig:
    """Merge settings (``base`` < file < flags) and validate them.

    Parameters
    ----------
    file_values : mapping, optional
        Settings read by :func:`load_config_file`.
    flag_values : mapping, optional
        Settings given as command-line flags; they win over the file.
    file_name : str, optional
        The config file, named in error messages.
    base : mapping, optional
        Defaults of the command (e.g. the demo's), overridden by both.

    Returns
    -------
    DetectorConfig

    Raises
    ------
    CLIError
        Naming each bad setting: ``--flag`` or ``'field' in FILE``.

    Examples
    --------
    >>> config_from_sources({"warmup": 128, "epochs": 5}, {"warmup": 64}).warmup
    64
    >>> config_from_sources({}, {"warmup": 1})
    Traceback (most recent call last):
    ...
    streamae.cli.CLIError: invalid detector configuration: --warmup: Input should be ... (got 1)
    """
    file_values = dict(file_values or {})
    flag_values = dict(flag_values or {})
    merged = {**dict(base or {}), **file_values, **flag_values}
    try:
        return DetectorConfig(**merged)
    except pydantic.ValidationError as err:
        problems = []
        for e in err.errors():
            loc = e.get("loc") or ()
            name = str(loc[0]) if loc else None
            if name is None:
                where = ""
            elif name in flag_values:
                where = "--" + name.replace("_", "-") + ": "
            elif name in file_values and file_name:
                where = f"{name!r} in {file_name}: "
            else:
                where = f"{name}: "
            msg = e.get("msg", "invalid")
            msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
            got = f" (got {e['input']!r})" if name is not None and "input" in e else ""
            problems.append(f"{where}{msg}{got}")
        raise CLIError("invalid detector configuration: " + "; ".join(problems)) from None


