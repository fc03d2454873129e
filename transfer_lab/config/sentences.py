"""Pydantic's errors as the sentences users read: the key, its value, what is allowed and how
to fix it, one line each; and the validators' own sentences (`refuse`), with their section's
key filled in. What is allowed is read from the model's JSON schema (ranges, names, examples).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError


def closest(name: Any, valid: Iterable[Any]) -> str:
    """The hint ' (did you mean X?)' with the valid name closest to `name`, or '' if none is."""
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
    return f" (did you mean {match[0]}?)" if match else ""


AT = "<key>"  # in a validator's sentence: the key of the section it checks


def refuse(sentence: str) -> PydanticCustomError:
    """A problem a validator found, said as the sentence the user will read."""
    return PydanticCustomError("refused", "{sentence}", {"sentence": sentence})


@functools.cache
def json_schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def _deref(node: dict, root: dict) -> dict:
    ref = node.get("$ref")
    return root["$defs"][ref.rsplit("/", 1)[1]] if ref else node


def _kind(value: Any) -> tuple[str, ...]:
    """The JSON schema types a value can stand for."""
    if isinstance(value, bool):
        return ("boolean",)
    if isinstance(value, int):
        return ("integer", "number")
    if isinstance(value, float):
        return ("number",)
    if isinstance(value, str):
        return ("string",)
    return ("array",) if isinstance(value, list) else ("object", "null")


def _member(node: dict, value: Any, root: dict) -> dict:
    """The member of a union that a value's kind belongs to (its first member if none)."""
    members = [_deref(m, root) for m in node.get("anyOf", [])]
    if not members:
        return node
    kinds = _kind(value)
    return next((m for k in kinds for m in members if m.get("type") == k), members[0])


def _is_tag(part: Any) -> bool:
    """Whether a part of an error's location names a union's member rather than a key."""
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool", "none") or "[" in part or "-" in part
    )


def locate(loc: tuple, value: Any, model: type[BaseModel]) -> tuple[str, dict]:
    """The dotted key of an error's location, and the schema of the setting there."""
    root = json_schema(model)
    node, key = root, ""
    for part in loc:
        if _is_tag(part):
            continue
        if isinstance(part, int):
            node = _deref(_member(node, [], root).get("items", {}), root)
            key += f"[{part}]"
            continue
        options = [node, *(_deref(m, root) for m in node.get("anyOf", []))]
        holder = next((n for n in options if part in n.get("properties", {})), None)
        extra = next(
            (n["additionalProperties"] for n in options if n.get("additionalProperties")), None
        )
        if holder is not None:
            node = _deref(holder["properties"][part], root)
        else:
            node = _deref(extra, root) if isinstance(extra, dict) else {}
        key += f".{part}" if key else str(part)
    return key, _member(node, value, root)


def _where(node: dict) -> str:
    low, high = node.get("minimum", node.get("exclusiveMinimum")), node.get("maximum")
    high = node.get("exclusiveMaximum") if high is None else high
    if node.get("type") == "integer":
        if low is not None and high is not None:
            return f"in {low}..{high}"
        return f"{low} or more" if low is not None else "any whole number"
    if high is None:
        return f"more than {low}" if "exclusiveMinimum" in node else f"{low} or more"
    left = "(" if "exclusiveMinimum" in node else "["
    right = ")" if "exclusiveMaximum" in node else "]"
    return f"in {left}{low}, {high}{right}"


def sentence(error: dict, model: type[BaseModel], prefix: str = "") -> str:
    """One of pydantic's errors as the sentence the user reads: the key, its value, what is
    allowed and how to fix it."""
    kind, value = error["type"], error.get("input")
    key, node = locate(error["loc"], value, model)
    key = f"{prefix}.{key}" if prefix and key else prefix or key
    if kind == "refused":
        return error["ctx"]["sentence"].replace(AT, key)
    example = (node.get("examples") or [None])[0]
    hint = f", e.g. {key}={example}" if example is not None else ""
    if kind == "extra_forbidden":
        known = closest(key, declared_keys(model))
        return f"{key} is not a setting{known}; remove it or check its spelling."
    if kind == "missing" and key.endswith("._target_"):
        section = key.rsplit(".", 1)[0]
        group, _, name = section.rpartition(".")
        choose = (
            f"add {name} to the {group} first ({group}=[…,{name}])"
            if group in ("callbacks", "logger")
            else f"choose one first ({name}@{section}=NAME, from conf/{name}/)"
        )
        return f"{section} has no _target_, so nothing would build it; {choose}, then set its keys."
    if kind == "missing":
        return f"{key} is missing; the config needs it (conf/ sets it by default)."
    if value is None:
        return f"{key} is empty (null); give it a value."
    if kind == "unique":
        return f"{key}={value} lists a value twice; list each once."
    if kind == "literal_error" or "enum" in node:
        names = node.get("enum", [node["const"]] if "const" in node else [])
        return (
            f"{key}={value!r} is not known{closest(value, names)}; use one of "
            f"{', '.join(str(n) for n in names)}."
        )
    if kind.startswith("bool"):
        return f"{key}={value!r} is not true or false; write {key}=true or {key}=false."
    if kind.startswith("string") or node.get("type") == "string":
        return f"{key}={value!r} is not a name; give {key} a non-empty value."
    if kind == "list_type" or node.get("type") == "array":
        return f"{key}={value!r} is not a list; write it as {key}=[…]."
    if node.get("type") == "object" or kind.startswith(("model", "dict")):
        return f"{key}={value!r} is not a group of settings; write {key}=null or use its group."
    where = _where(node)
    if kind == "finite_number":
        return f"{key}={value} is not a finite number; give one {where}{hint}."
    if kind.startswith(("greater", "less")):
        return f"{key}={value} is out of range; it must be {where}{hint}."
    if node.get("type") == "integer":
        return f"{key}={value!r} is not a whole number; give one that is {where}{hint}."
    return f"{key}={value!r} is not a number; give one {where}{hint}."


def _mismatch(error: dict) -> bool:
    """Whether an error only says the value is of another kind than a union's member."""
    kind = error["type"]
    return kind.endswith("_type") or (
        kind == "literal_error" and not isinstance(error["input"], str)
    )


def _best(errors: list[dict]) -> list[dict]:
    """One error per setting: of a union's members, the one for the value's own kind."""
    chosen: dict[tuple, dict] = {}
    for error in errors:
        loc = error["loc"]
        first_tag = next((i for i, p in enumerate(loc) if _is_tag(p)), len(loc))
        held = chosen.setdefault(loc[:first_tag], error)
        if _mismatch(held) and not _mismatch(error):
            chosen[loc[:first_tag]] = error
    return list(chosen.values())


@functools.cache
def declared_keys(model: type[BaseModel]) -> tuple[str, ...]:
    """Every dotted key a model declares (what a misspelt key is compared with)."""
    root, found = json_schema(model), []

    def walk(node: dict, prefix: str) -> None:
        for name, child in node.get("properties", {}).items():
            found.append(prefix + name)
            for option in [_deref(child, root), *(_deref(m, root) for m in child.get("anyOf", []))]:
                if "properties" in option:
                    walk(option, f"{prefix}{name}.")

    walk(root, "")
    return tuple(dict.fromkeys(found))


def problems_of(values: Any, model: type[BaseModel], prefix: str = "") -> list[str]:
    """One sentence per problem of `values` read as `model` (keys after `prefix`)."""
    try:
        model.model_validate(values)
    except ValidationError as error:
        errors, lacking = [], {}
        for e in _best(error.errors()):
            if e["type"] == "missing" and e["loc"][-1] != "_target_":
                lacking.setdefault(e["loc"][:-1], []).append(str(e["loc"][-1]))
            else:
                errors.append(sentence(e, model, prefix))
        for loc, names in lacking.items():  # a section given key by key, without its group
            section = locate(loc, {}, model)[0] or "the config"
            errors.append(
                f"{section} lacks {', '.join(names)}; choose it by its config group (conf/), "
                f"then change its keys."
            )
        return list(dict.fromkeys(errors))
    return []
