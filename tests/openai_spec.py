"""Check JSON values strictly against the installed ``openai`` SDK's own types.

The fake OpenAI server uses this to reject request bodies the real API would reject,
and to prove everything it sends matches the SDK's response models. We walk the types
ourselves: pydantic's TypeAdapter drops unknown TypedDict keys and the SDK's models
allow extras, but here an unknown key is always a problem. Paths read like OpenAI's
400 ``param``: ``tools[0].quality``, ``input[0].content[1].detail``, ``bogus``.

Accepted loosely, on purpose: ``object``/``Any`` (the SDK's "any JSON"), and types
this walker does not know (``FileTypes`` and other multipart-only types, which never
arrive as JSON); a union with such a member accepts anything.
"""

from __future__ import annotations

import collections.abc
import functools
import types
import typing
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin

import pydantic
from typing_extensions import is_typeddict

Problem = tuple[str, str]

_LISTS = {list, collections.abc.Sequence, collections.abc.Iterable, collections.abc.MutableSequence}
_DICTS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_UNIONS = (typing.Union, types.UnionType)
_SCALARS = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", type(None): "null"}


def problems(value: Any, annotation: Any, path: str = "") -> list[Problem]:
    """Every way `value` breaks `annotation`: (param path, what is wrong). Empty when it conforms.

    "What is wrong" is a short lowercase phrase without the path, e.g. "unknown parameter".
    """
    ann = _strip(annotation)
    origin = get_origin(ann)
    if ann is Any or ann is object:
        return []
    if ann is None or ann in _SCALARS:
        return [] if _is_scalar(value, ann) else [_wrong_type(path, _expected(ann), value)]
    if origin is Literal:
        return _literal(value, get_args(ann), path)
    if origin in _UNIONS:
        return _union(value, ann, path)
    if origin in _LISTS:
        return _list(value, (get_args(ann) or (Any,))[0], path)
    if origin in _DICTS:
        return _dict(value, (get_args(ann) or (str, Any))[-1], path)
    if is_typeddict(ann) or _is_model(ann):
        return _object(value, ann, path)
    return []  # unknown to us (files, IO, ...): accept rather than guess


def check_request(body: dict, kind: Any) -> Problem | None:
    """The first problem with a request body, as OpenAI's 400 would report it, or None."""
    found = problems(body, kind)
    return found[0] if found else None


def _is_scalar(value: Any, ann: Any) -> bool:
    if ann is None or ann is type(None):
        return value is None
    if ann is float:  # JSON has one number type; 1 is a fine float
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is int:  # bool is an int subclass in Python, never in JSON
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, ann)


def _literal(value: Any, allowed: tuple, path: str) -> list[Problem]:
    # Compare types too: True == 1 in Python, but not for OpenAI.
    if any(type(value) is type(a) and value == a for a in allowed):
        return []
    choices = ", ".join(repr(a) for a in allowed)
    return [(path, f"invalid value {value!r}; supported values are {choices}")]


def _list(value: Any, item: Any, path: str) -> list[Problem]:
    if not isinstance(value, list):
        return [_wrong_type(path, "an array", value)]
    return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]


def _dict(value: Any, item: Any, path: str) -> list[Problem]:
    if not isinstance(value, dict):
        return [_wrong_type(path, "an object", value)]
    return [p for k, v in value.items() for p in problems(v, item, _join(path, k))]


def _object(value: Any, cls: type, path: str) -> list[Problem]:
    if not isinstance(value, dict):
        return [_wrong_type(path, "an object", value)]
    fields, required = _fields(cls)
    found = [(_join(path, k), "unknown parameter") for k in value if k not in fields]
    found += [(_join(path, k), "missing required parameter") for k in required if k not in value]
    for key, val in value.items():
        if key in fields:
            found += problems(val, fields[key], _join(path, key))
    return found


@functools.cache
def _fields(cls: type) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Wire key -> annotation, and the required wire keys in declared order, for a TypedDict or a model."""
    if _is_model(cls):
        model_fields = cls.model_fields
        if any(isinstance(f.annotation, (str, typing.ForwardRef)) for f in model_fields.values()):
            # pydantic could not resolve a name itself; let typing try in the model's module.
            hints = typing.get_type_hints(cls, include_extras=True)
            fields = {f.alias or n: hints[n] for n, f in model_fields.items()}
        else:
            fields = {f.alias or n: f.annotation for n, f in model_fields.items()}
        return fields, tuple(f.alias or n for n, f in model_fields.items() if f.is_required())
    fields, required = {}, []
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        # With `from __future__ import annotations`, Python 3.11 can miss Required[...]
        # in __required_keys__, so the hint itself decides when it says anything.
        is_required = name in cls.__required_keys__
        alias = None
        while get_origin(hint) in (Annotated, Required, NotRequired):
            if get_origin(hint) is Annotated:
                alias = next((m.alias for m in hint.__metadata__ if getattr(m, "alias", None)), alias)
            else:
                is_required = get_origin(hint) is Required
            hint = get_args(hint)[0]
        fields[alias or name] = hint
        if is_required:
            required.append(alias or name)
    return fields, tuple(required)


def _union(value: Any, ann: Any, path: str) -> list[Problem]:
    members = _members(ann)
    tags = _tags(ann)
    if tags and isinstance(value, dict) and isinstance(value.get("type"), str):
        # Narrow by the "type" tag first: fast for the ~60 stream events, and the
        # report names the real problem, not "matches none of 60 members".
        members = [m for m in members if value["type"] in tags.get(m, ()) or m not in tags and _maybe_dict(m)]
        if not members:
            return _literal(value["type"], tuple(sorted(set().union(*tags.values()))), _join(path, "type"))
    failures = []
    for member in members:
        found = problems(value, member, path)
        if not found:
            return []
        failures.append(found)
    if (allowed := _enum(members)) is not None:  # e.g. Optional[Literal["a", "b"]]
        return _literal(value, allowed, path)
    if all(p == path for found in failures for p, _ in found):
        # Every member failed on the value itself (e.g. Optional[int] given "2").
        kinds = " or ".join(dict.fromkeys(_expected(m) for m in members))
        return [_wrong_type(path, kinds, value)]
    # Otherwise trust the member that got furthest into the value.
    return max(failures, key=lambda found: (min(_depth(p) for p, _ in found), -len(found)))


@functools.cache
def _members(ann: Any) -> tuple:
    """Union members with wrappers stripped and nested unions flattened."""
    out = []
    for arg in get_args(ann):
        arg = _strip(arg)
        out.extend(_members(arg) if get_origin(arg) in _UNIONS else [arg])
    return tuple(out)


@functools.cache
def _tags(ann: Any) -> dict[Any, frozenset]:
    """Union members that are objects tagged by a Literal "type" field -> its values."""
    tags = {}
    for member in _members(ann):
        if (is_typeddict(member) or _is_model(member)) and "type" in _fields(member)[0]:
            tag = _strip(_fields(member)[0]["type"])
            values = _enum(_members(tag) if get_origin(tag) in _UNIONS else (tag,))
            if values:
                tags[member] = frozenset(values) - {None}
    return tags


def _maybe_dict(ann: Any) -> bool:
    return not (ann is None or ann in _SCALARS or get_origin(ann) is Literal or get_origin(ann) in _LISTS)


def _enum(members: tuple) -> tuple | None:
    """Every allowed value when all members are Literals (or None), else None."""
    values: list = []
    for member in members:
        if get_origin(member) is Literal:
            values += get_args(member)
        elif member is None or member is type(None):
            values.append(None)
        else:
            return None
    return tuple(values)


def _strip(ann: Any) -> Any:
    """Drop Annotated/Required/NotRequired wrappers (e.g. the SDK's PropertyInfo(discriminator=...))."""
    while get_origin(ann) in (Annotated, Required, NotRequired):
        ann = get_args(ann)[0]
    return ann


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, pydantic.BaseModel)


def _expected(ann: Any) -> str:
    ann = _strip(ann)
    if ann is None or ann in _SCALARS:
        return _SCALARS[type(None) if ann is None else ann]
    if get_origin(ann) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(ann))
    return "an array" if get_origin(ann) in _LISTS else "an object"


def _wrong_type(path: str, expected: str, value: Any) -> Problem:
    return path, f"expected {expected}, but got {_json_kind(value)}"


def _json_kind(value: Any) -> str:
    # bool before int (bool is an int subclass), int before float.
    for kind in (type(None), bool, int, float, str):
        if _is_scalar(value, kind):
            return _SCALARS[kind]
    return "an array" if isinstance(value, list) else "an object"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _depth(path: str) -> int:
    return path.count(".") + path.count("[") + bool(path)
