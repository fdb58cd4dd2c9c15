"""Dataclass options: one loader for every YAML/CLI entry, and CLI flags generated from the fields.

Every configuration object of noisereg (``TrainConfig``, ``ExperimentConfig``, ...) is a dataclass
whose fields carry their help text, choices and range in ``option(...)`` metadata, written once.
``load_options`` merges a YAML file with CLI overrides, refuses unknown keys (with a did-you-mean)
and values of the wrong type, in one line naming the key; ``add_flags`` turns the same fields into
argparse options, so a field added to a config is a flag without further code.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

from .errors import UserError, did_you_mean  # noqa: F401 (did_you_mean: re-exported)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")  # a config dataclass
_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    help: str = "",
    *,
    choices: Sequence[Any] | None = None,
    default_factory: Callable[[], Any] | None = None,
    flag: str | None = None,
    cli: bool = True,
    maximum: float | None = None,
) -> Any:
    """A dataclass field with its CLI metadata.

    Args:
        default / default_factory: as for ``dataclasses.field``.
        help: one line for ``--help`` (the default is appended).
        choices: the allowed values (checked by the loader and by argparse).
        flag: the flag spelling when it differs from ``--field-name`` (e.g. ``--no-amp`` for a
            boolean that defaults to True).
        cli: False for fields that are not command-line flags.
        maximum: the largest value allowed (sizes: checked before any work by the config's validation,
            ``check_maximums``, and said in ``--help``).
    """
    meta = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "flag": flag,
        "cli": cli,
        "maximum": maximum,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _optional_of(tp: Any) -> Any:
    """``X`` for ``Optional[X]`` and ``X | None`` alike (two spellings, two runtime types), else None."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return None


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping"}
    origin = typing.get_origin(tp)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0]).split(' ', 1)[1]}s"
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """``value`` checked against the annotation ``tp`` (numbers written as strings are accepted)."""
    if (inner := _optional_of(tp)) is not None:
        return None if value is None else _coerce(value, inner, key, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = UserError(f"{where}'{key}' must be {_type_name(tp)}, got {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_coerce(v, args[0], key, where) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    return value


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise ``UserError`` when ``value`` is not one of ``allowed``, with a did-you-mean."""
    if value not in allowed:
        raise UserError(f"{name} '{value}' is not one of {list(allowed)}{did_you_mean(value, allowed)}")


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping; every failure is one line naming the file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read config file {path}: {type(e).__name__}") from None
    except yaml.YAMLError as e:
        raise UserError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of option: value")
    return data


def from_mapping(cls: type[T], data: dict[str, Any], *, where: str = "") -> T:
    """Build ``cls`` from a mapping: unknown keys refused with a did-you-mean, types checked.

    ``cls.KIND`` (default ``config``) names the keys in messages: "unknown experiment key(s)".
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kind = getattr(cls, "KIND", "config")
    where = f"{where}: " if where else ""
    for key in data:
        if key not in known:
            hint = did_you_mean(key, known) or f"; expected some of {sorted(known)}"
            raise UserError(f"{where}unknown {kind} key(s) {[key]}{hint}")
    values = {k: _coerce(v, hints[k], k, where) for k, v in data.items()}
    for f in dataclasses.fields(cls):
        choices = f.metadata.get("choices")
        if choices and f.name in values and values[f.name] is not None:
            for v in values[f.name] if isinstance(values[f.name], list) else [values[f.name]]:
                check_choice(f.name, v, choices)
    return cls(**values)


def load_options(cls: type[T], path: str | Path | None = None, **overrides: Any) -> T:
    """The one loader: YAML defaults (optional) updated by the non-None ``overrides`` (CLI flags)."""
    data = read_yaml_mapping(path) if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_mapping(cls, data, where=str(path) if path is not None else "")


# ------------------------------------------------------------------ CLI flags from the fields
def _flag_type(tp: Any) -> tuple[Any, Callable[[str], Any] | None]:
    """(base annotation, argparse type) of a field."""
    tp = _optional_of(tp) or tp
    if typing.get_origin(tp) is list:
        inner = typing.get_args(tp)[0]
        return tp, lambda s: [inner(x.strip()) for x in s.split(",") if x.strip()]
    return tp, tp if tp in (int, float, str) else None


def add_flags(parser: argparse.ArgumentParser, cls: type, *, skip: Sequence[str] = (), prefix: str = "") -> None:
    """Add one flag per CLI field of ``cls`` (``dest`` = ``prefix + name``, default None = not given)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", False) or f.name in skip:
            continue
        tp, conv = _flag_type(hints[f.name])
        default = (
            f.default
            if f.default is not _MISSING
            else (f.default_factory() if f.default_factory is not _MISSING else None)
        )
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        text = meta["help"] + ("" if shown in (None, "") or tp is bool else f" (default {shown})")
        text += f" (at most {meta['maximum']:,})" if meta.get("maximum") is not None else ""
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        dest = prefix + f.name
        if tp is bool:
            const = not flag.startswith("--no-")
            parser.add_argument(flag, dest=dest, action="store_const", const=const, default=None, help=text)
        else:
            choices = meta.get("choices") if typing.get_origin(tp) is not list else None
            parser.add_argument(
                flag,
                dest=dest,
                type=conv,  # type: ignore[arg-type]  # None: argparse keeps the text
                choices=choices,
                default=None,
                metavar=None if choices else f.name.upper(),
                help=text,
            )


def check_maximums(obj: Any) -> None:
    """Raise ``UserError`` for the first field of dataclass ``obj`` above its ``option(maximum=...)``, naming
    its flag: an absurd size (``--image-size 100000``) is refused before it allocates gigabytes."""
    for f in dataclasses.fields(obj):
        high, value = f.metadata.get("maximum"), getattr(obj, f.name)
        if high is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value > high:
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            raise UserError(f"{flag} ({f.name}) must be at most {high:,}, got {value:,}")


def flag_values(args: argparse.Namespace, cls: type, *, prefix: str = "") -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (flags added by ``add_flags``)."""
    out = {}
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", False):
            continue
        value = getattr(args, prefix + f.name, None)
        if value is not None:
            out[f.name] = value
    return out
