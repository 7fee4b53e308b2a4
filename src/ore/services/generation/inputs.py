"""The ``inputs`` of a generation, checked against the app's ``user_input_form``.

Matches Dify's input cleaning (spec dify-service-api.md §3): a required variable that is
missing, null or empty is ``<var> is required in input form``; an optional one takes its
default; strings are typed, capped and stripped of NUL characters; keys the form does not
name are dropped. Each failure is 400 ``invalid_param`` with Dify's message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ore.core.errors import InvalidParam

_STRING_TYPES = frozenset({"text-input", "paragraph", "select"})


def form_variables(form: list[Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """(type, settings) of each well-formed entry of a ``user_input_form``."""
    entries: list[tuple[str, dict[str, Any]]] = []
    for item in form or []:
        if isinstance(item, dict) and len(item) == 1:
            kind, settings = next(iter(item.items()))
            if isinstance(settings, dict) and isinstance(settings.get("variable"), str):
                entries.append((kind, settings))
    return entries


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _clean_string(kind: str, name: str, value: Any, settings: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise InvalidParam(f"(type '{kind}') {name} in input form must be a string")
    text = value.replace("\x00", "")
    if kind == "select":
        options = settings.get("options") or []
        if text not in options:
            raise InvalidParam(f"{name} in input form must be one of the following: {options}")
    max_length = settings.get("max_length")
    if isinstance(max_length, int) and max_length > 0 and len(text) > max_length:
        raise InvalidParam(f"{name} in input form must be less than {max_length} characters")
    return text


def _clean_number(name: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise InvalidParam(f"{name} in input form must be a valid number")
    if isinstance(value, int | float):
        number: int | float = value
    elif isinstance(value, str):
        try:
            number = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise InvalidParam(f"{name} in input form must be a valid number") from None
    else:
        raise InvalidParam(f"{name} in input form must be a valid number")
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidParam(f"{name} in input form must be a valid number")
    return number


def _clean_file_list(name: str, value: Any, settings: Mapping[str, Any]) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidParam(f"{name} in input form must be a list of files")
    max_length = settings.get("max_length")
    if isinstance(max_length, int) and max_length > 0 and len(value) > max_length:
        raise InvalidParam(f"{name} in input form must be less than {max_length} files")
    return value


def _clean_value(kind: str, name: str, value: Any, settings: Mapping[str, Any]) -> Any:
    if kind in _STRING_TYPES:
        return _clean_string(kind, name, value, settings)
    if kind == "number":
        return _clean_number(name, value)
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise InvalidParam(f"{name} in input form must be a valid boolean value")
        return value
    if kind == "file":
        if not isinstance(value, dict):
            raise InvalidParam(f"{name} in input form must be a file")
        return value
    if kind == "file-list":
        return _clean_file_list(name, value, settings)
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value


def clean_inputs(form: list[Any] | None, inputs: Any) -> dict[str, Any]:
    """The inputs to store and render: one value per form variable, checked."""
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise InvalidParam("inputs must be an object")
    cleaned: dict[str, Any] = {}
    for kind, settings in form_variables(form):
        name = settings["variable"]
        value = inputs.get(name)
        if _is_missing(value):
            if settings.get("required"):
                raise InvalidParam(f"{name} is required in input form")
            default = settings.get("default")
            cleaned[name] = "" if default is None else default
            continue
        cleaned[name] = _clean_value(kind, name, value, settings)
    return cleaned
