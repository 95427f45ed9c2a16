"""Load a YAML file strictly, remembering the line of every key.

PyYAML's own constructor forgets where values came from, silently keeps the last of duplicate
keys, and expands aliases without limit (the "billion laughs" bomb). We compose the node tree
ourselves instead, so that every value has a line, duplicates are refused, and the number of
nodes built is bounded.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import InputError, Location

MAX_BYTES = 1024 * 1024  # a source of truth is hand-written; anything larger is a mistake
MAX_NODES = 200_000  # bounds alias expansion: each alias use counts its whole subtree again

KeyPath = tuple[str | int, ...]
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")  # what a mapping or list may be
# What a scalar may be. Not !!binary (bytes: ansible-inventory cannot read them back), not
# !!timestamp, not a local tag: plain data that means the same to us and to Ansible.
_SCALAR_TAGS = tuple(
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null")
)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


@dataclass
class Loaded:
    """A YAML document as plain data, plus the line where each key path starts."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, keys: KeyPath) -> Location:
        """The line of the deepest known prefix of `keys` (a missing key reports its parent)."""
        for end in range(len(keys), -1, -1):
            line = self.lines.get(keys[:end])
            if line is not None:
                return Location(self.path, line)
        return Location(self.path)


def format_keys(keys: KeyPath) -> str:
    text = ""
    for key in keys:
        name = str(key) if str(key).isprintable() else repr(key)  # a message is one line
        text += f"[{key}]" if isinstance(key, int) else (f".{name}" if text else name)
    return text


def load(path: Path) -> Loaded:
    """Read and parse one YAML file; every problem is an InputError naming file and line."""
    raw = _read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", Location(path, line)
        ) from None
    return parse(text, path)


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, if it is a regular file of at most MAX_BYTES. The type is checked on
    the open descriptor before reading (a FIFO would block the read forever, /dev/zero never
    ends), and at most MAX_BYTES + 1 bytes are read whatever the file claims its size is."""
    try:
        _regular_file(path, os.stat(path).st_mode)  # before opening: a device is never opened
        # O_NONBLOCK: should a FIFO take the file's place now, opening it returns at once
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError("file not found", Location(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(path)) from None
    try:
        _regular_file(path, os.fstat(fd).st_mode)  # what was opened: the file checked or not
    except InputError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(MAX_BYTES + 1)
            size = max(len(raw), os.fstat(fd).st_size)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", Location(path)) from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"file is {size} bytes; the limit is {MAX_BYTES}", Location(path))
    return raw


def _regular_file(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = "Is a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise InputError(f"cannot read: {kind}", Location(path))


def _compose(text: str) -> yaml.Node | None:
    """libyaml's composer when PyYAML has it (ten times faster on big sources); on any error,
    PyYAML's own, whose messages and marks are the ones we report."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse(text: str, path: Path) -> Loaded:
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is not None and mark.index >= len(text) and exc.context_mark is not None:
            mark = exc.context_mark  # at the end of the file: point where the unclosed thing began
        line = mark.line + 1 if mark is not None else None
        # PyYAML's context ("while scanning a quoted scalar") is often the useful half.
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        if "'\\t'" in problem:
            problem += " (a tab character: YAML wants spaces)"
        raise InputError(f"YAML syntax error: {problem}", Location(path, line)) from None
    except yaml.reader.ReaderError as exc:  # a control character: PyYAML gives its position
        line = text.count("\n", 0, exc.position) + 1
        raise InputError(
            f"YAML error: unacceptable character #x{exc.character:04x}: {exc.reason}",
            Location(path, line),
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {' '.join(str(exc).split())}", Location(path)) from None
    except RecursionError:  # "[[[[...": PyYAML composes recursively
        raise InputError("values are nested too deeply", Location(path)) from None
    loaded = Loaded(path=path, data=None)
    if node is None:
        return loaded
    builder = _Builder(loaded)
    try:
        loaded.data = builder.build(node, ())
    except RecursionError:
        raise InputError("values are nested too deeply", Location(path)) from None
    return loaded


class _Builder:
    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.count = 0
        # Scalars are resolved by PyYAML's safe constructor, so "yes", "1.5", "~" mean what
        # YAML 1.1 says they mean, exactly as Ansible will read the generated files.
        self.scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, keys: KeyPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError(
                f"document expands to more than {MAX_NODES} values (alias bomb?)",
                Location(self.loaded.path, node.start_mark.line + 1),
            )
        self.loaded.lines.setdefault(keys, node.start_mark.line + 1)
        if node.tag not in (_SCALAR_TAGS if isinstance(node, yaml.ScalarNode) else _PLAIN_TAGS):
            # !!python/object/apply:... [args], !!set, !!omap, !!binary: not plain data
            raise InputError(
                f"cannot read value: the tag {node.tag!r} is not supported",
                Location(self.loaded.path, node.start_mark.line + 1),
                format_keys(keys),
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, keys)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*keys, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, keys)

    def _scalar(self, node: yaml.Node, keys: KeyPath) -> Any:
        if node.tag in _NUMBER_TAGS and ":" in node.value:
            # YAML 1.1 reads 1:30 as 90 (base 60): nobody writing a time or a ratio means that
            raise InputError(
                f"cannot read value: {node.value!r} is a base-60 number in YAML 1.1; "
                "quote it if it is text",
                Location(self.loaded.path, node.start_mark.line + 1),
                format_keys(keys),
            )
        try:
            value = self.scalars.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            problem = str(exc.problem)
        except (ValueError, TypeError, KeyError, AttributeError):
            # An explicit tag on a value that is not one (!!int x, !!timestamp 2001-13-45):
            # PyYAML's constructors fail with plain exceptions there.
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            problem = f"{node.value!r} is not a valid {tag}"
        else:
            if not isinstance(value, float) or math.isfinite(value):
                return value
            problem = f"{node.value!r} is not a finite number"
        raise InputError(
            f"cannot read value: {problem}",
            Location(self.loaded.path, node.start_mark.line + 1),
            format_keys(keys),
        )

    def _mapping(self, node: yaml.MappingNode, keys: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise InputError(
                    "merge keys (<<) are not supported in the source of truth",
                    Location(self.loaded.path, line),
                    format_keys(keys),
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError(
                    "a key must be a plain string",
                    Location(self.loaded.path, line),
                    format_keys(keys),
                )
            key = str(key_node.value)
            if key in result:
                first = self.loaded.lines.get((*keys, key))
                raise InputError(
                    f"duplicate key {key!r} (first set on line {first})",
                    Location(self.loaded.path, line),
                    format_keys((*keys, key)),
                )
            self.loaded.lines[(*keys, key)] = line
            result[key] = self.build(value_node, (*keys, key))
        return result
