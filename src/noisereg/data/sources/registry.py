"""The registry of dataset layouts: ``open_dataset`` reads any of them, ``add_layout_flags`` makes their flags.

A layout is one module in ``data/sources/`` holding an options dataclass (its fields written with
``options.option``: help, choices, flag spelling, as ``TrainConfig``'s) and a reader, registered by one
``register_layout`` line in ``data/sources/__init__.py``. The ``--format`` choices, the flags of the
``data`` and ``protocol`` commands and of ``train`` / ``evaluate`` / ..., the Python API's inputs, the
protocols and the tasks all read data through ``open_dataset``: nobody else knows a layout's name.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from ...errors import UserError, did_you_mean
from ...options import add_flags, flag_values, from_mapping
from ..table import LabelTable

# what a reader is given besides its options: the fixed class list (None: the data's own) and quiet
Reader = Callable[..., LabelTable]
Classes = Union[str, "os.PathLike[str]", Sequence[str], None]


@dataclass(frozen=True)
class Layout:
    """One dataset layout.

    Attributes:
        name: the ``--format`` value (and ``open_dataset``'s first argument).
        options: a dataclass whose ``option(...)`` fields are the layout's options and CLI flags; a
            ``ClassVar`` ``ALIASES`` maps another layout's flag to one of its fields (``{"root": "image_root"}``).
        read: ``read(options, *, classes, quiet) -> LabelTable``.
        required: the fields that must be given (refused in one line naming the flag).
        fixes_classes: whether the reader takes a fixed class list (``--classes``); others refuse one.
        group: a help-group title for the flags only this layout has (empty: none).
    """

    name: str
    options: type
    read: Reader
    required: tuple[str, ...] = ()
    fixes_classes: bool = False
    group: str = ""


_LAYOUTS: dict[str, Layout] = {}


def register_layout(layout: Layout) -> Layout:
    """Add a layout; its options must be a dataclass and its required fields among them."""
    if layout.name in _LAYOUTS:
        raise ValueError(f"layout '{layout.name}' is already registered")
    if not dataclasses.is_dataclass(layout.options):
        raise TypeError(f"layout '{layout.name}': options must be a dataclass, got {layout.options!r}")
    names = [f.name for f in dataclasses.fields(layout.options)]
    unknown = [r for r in layout.required if r not in names]
    if unknown:
        raise ValueError(f"layout '{layout.name}': required field(s) {unknown} are not among its options {names}")
    _LAYOUTS[layout.name] = layout
    return layout


def unregister_layout(name: str) -> None:
    """Remove a layout (tests that register a toy one)."""
    _LAYOUTS.pop(name, None)


def list_layouts() -> list[str]:
    """The registered layout names, in registration order."""
    return list(_LAYOUTS)


def get_layout(name: str) -> Layout:
    """The layout called ``name``; an unknown one is a ``UserError`` with a did-you-mean."""
    if name not in _LAYOUTS:
        known = list(_LAYOUTS)
        raise UserError(f"unknown format '{name}': expected one of {known}{did_you_mean(name, known)}")
    return _LAYOUTS[name]


def layout_fields(name: str) -> list[str]:
    """The names of the layout's options."""
    return [f.name for f in dataclasses.fields(get_layout(name).options)]


def flag_of(field: dataclasses.Field) -> str:
    """The CLI spelling of an options field."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def layout_options(name: str, values: dict[str, Any]) -> Any:
    """The layout's options dataclass from ``values`` (unknown keys refused with a did-you-mean, types checked,
    required fields checked)."""
    layout = get_layout(name)
    values = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in values.items()}
    opts: Any = from_mapping(layout.options, values, where=f"--format {name}")
    for field in dataclasses.fields(layout.options):
        if field.name in layout.required and getattr(opts, field.name) in (None, ""):
            raise UserError(f"--format {name} needs {flag_of(field)} ({field.name}=)")
    return opts


def open_dataset(layout: str, *, classes: Classes = None, quiet: bool = False, **options: Any) -> LabelTable:
    """Read a dataset in one of the registered layouts (``list_layouts()``) as a ``LabelTable``.

    Args:
        layout: the layout's name, e.g. ``coco``, ``cifar-n``, ``csv`` (a manifest), ``folders``.
        classes: fixes the class list and its order (a list of names, or a class-list file, one name per
            line); a class outside it is refused. Only layouts that name their classes take one.
        quiet: no progress output.
        **options: the layout's options, named as its fields (``--image-root`` is ``image_root=``).

    Raises:
        UserError: an unknown layout or option, a missing required option, or whatever the reader refuses.
    """
    spec = get_layout(layout)
    opts = layout_options(layout, options)
    if classes is not None and not spec.fixes_classes:
        raise UserError(f"--format {layout} names its own classes: --classes (classes=) cannot fix them")
    if isinstance(classes, (str, os.PathLike)):
        from ..classes import read_classes

        classes = read_classes(os.fspath(classes))
    return spec.read(opts, classes=list(classes) if classes is not None else None, quiet=quiet)


# ------------------------------------------------------------------ CLI flags from the options
def _merged_field(name: str, entries: list[tuple[str, dataclasses.Field, Any]], prefixed: bool) -> tuple:
    """One ``make_dataclass`` field spec for the flag that ``entries`` (layout, field, type) share."""
    types = {str(tp) for _, _, tp in entries}
    flags = {flag_of(f) for _, f, _ in entries}
    if len(types) > 1 or len(flags) > 1:
        raise TypeError(f"option '{name}' differs between layouts {[n for n, _, _ in entries]}: {types} {flags}")
    helps: dict[str, list[str]] = {}
    for layout, f, _ in entries:
        helps.setdefault(f.metadata.get("help", ""), []).append(layout)
    text = "; ".join(f"{', '.join(names)}: {h}" if prefixed else h for h, names in helps.items())
    defaults = {repr(f.default) for _, f, _ in entries}
    first = entries[0][1]
    meta = {**first.metadata, "help": text, "choices": first.metadata.get("choices")}
    shown = len(defaults) == 1 and first.default is not dataclasses.MISSING and not isinstance(first.default, list)
    default = first.default if shown else None  # only for --help: each layout's own dataclass holds its defaults
    return name, entries[0][2], dataclasses.field(default=default, metadata=meta)


def _aliases(names: Sequence[str]) -> dict[str, list[str]]:
    """flag field -> the layouts that read it as one of their own fields (``ALIASES``)."""
    out: dict[str, list[str]] = {}
    for n in names:
        for alias, own in getattr(_LAYOUTS[n].options, "ALIASES", {}).items():
            out.setdefault(alias, []).append(f"{n}: same as {flag_of(_field(n, own))}")
    return out


def _field(layout: str, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(_LAYOUTS[layout].options) if f.name == name)


def merged_options(names: Sequence[str], *, prefixed: bool = True, skip: Sequence[str] = ()) -> type:
    """A dataclass with one field per CLI option of the layouts ``names`` (shared names merged, each help
    prefixed with the layouts that use it when ``prefixed``): what ``add_flags`` turns into flags."""
    entries: dict[str, list[tuple[str, dataclasses.Field, Any]]] = {}
    for n in names:
        hints = typing.get_type_hints(_LAYOUTS[n].options)
        for f in dataclasses.fields(_LAYOUTS[n].options):
            if f.metadata.get("cli", False) and f.name not in skip:
                entries.setdefault(f.name, []).append((n, f, hints[f.name]))
    specs = [_merged_field(name, e, prefixed) for name, e in entries.items()]
    for alias, said in _aliases(names).items():
        i = next((k for k, s in enumerate(specs) if s[0] == alias), None)
        if i is not None:
            name, tp, f = specs[i]
            specs[i] = (
                name,
                tp,
                dataclasses.field(
                    default=f.default, metadata={**f.metadata, "help": "; ".join([f.metadata["help"], *said])}
                ),
            )
    return dataclasses.make_dataclass("LayoutFlags", specs)


def add_layout_flags(
    parser: argparse.ArgumentParser,
    names: Sequence[str] | None = None,
    *,
    format_required: bool | None = True,
    skip: Sequence[str] = (),
    format_help: str = "",
) -> None:
    """The flags of the layouts ``names`` (default: every registered one): ``--format`` (left out when
    ``format_required`` is None: the layout is then told by the flags given), one flag per option, each layout's
    own ones in its help group, and ``--classes``."""
    names = list(names) if names is not None else list_layouts()
    if format_required is not None:
        parser.add_argument(
            "--format",
            required=format_required,
            choices=names,
            help="dataset layout" + (f" ({format_help})" if format_help else ""),
        )
    merged = merged_options(names, prefixed=format_required is not None, skip=skip)
    owners = {
        f.name: [n for n in names if f.name in {g.name for g in dataclasses.fields(_LAYOUTS[n].options)}]
        for f in dataclasses.fields(merged)
    }
    for n in names:  # flags only one layout has go in its help group, if it names one
        own = [f for f, o in owners.items() if o == [n]]
        if _LAYOUTS[n].group and own:
            add_flags(
                parser.add_argument_group(_LAYOUTS[n].group),  # type: ignore[arg-type]
                merged,
                skip=[f for f in owners if f not in own],
            )
            owners = {f: o for f, o in owners.items() if f not in own}
    add_flags(parser, merged, skip=[f.name for f in dataclasses.fields(merged) if f.name not in owners])
    parser.add_argument(
        "--classes",
        help="class list file, one name per line: fixes the classes and their order; "
        "a class name outside it (a folder or a label) is refused",
    )


def layout_values(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The options of layout ``name`` given on the command line (flags made by ``add_layout_flags``)."""
    layout = get_layout(name)
    values = flag_values(args, layout.options)
    for alias, own in getattr(layout.options, "ALIASES", {}).items():
        if own not in values and getattr(args, alias, None) is not None:
            values[own] = getattr(args, alias)
    return values
