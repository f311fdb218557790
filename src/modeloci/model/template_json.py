"""Chat templates kept in JSON: the ``chat_template`` key of ``tokenizer_config.json`` and ``chat_template.json``.

transformers reads a Hugging Face folder's template from either file: the key
holds a string, or a list of ``{"name": ..., "template": ...}`` (the
``default`` one for a chat, ``tool_use`` when tools are given, ``rag`` with
documents). :func:`templates_in_json` returns each template with where its
text starts in the JSON source, and :func:`source_offset` maps a line of a
template to its place in that source, so that a diagnostic points into the
JSON file. Problems raise :class:`TemplateJSONError` with an offset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from modeloci.jsondoc import InvalidJSON, check_json

KEY = "chat_template"


@dataclass(frozen=True, slots=True)
class JSONTemplate:
    """One template found in a JSON file."""

    name: str | None  # its name in a list of named templates; None for a single template
    text: str
    offset: int  # where its JSON string (the opening quote) starts in the source


class TemplateJSONError(ValueError):
    """The JSON file holds no readable template; ``offset`` is where, in its source."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def templates_in_json(source: str, what: str, *, required: bool) -> list[JSONTemplate]:
    """The templates under the top-level ``chat_template`` key of the JSON document ``source``.

    Without the key (or with ``null``) there are none, unless ``required``
    (``chat_template.json`` holds nothing else). ``what`` names the file in messages.
    """
    try:
        doc = json.loads(source)
    except json.JSONDecodeError as exc:
        raise TemplateJSONError(f"{what} is not valid JSON: {exc.msg}", exc.pos) from None
    except RecursionError:
        raise TemplateJSONError(f"{what} is nested too deep to read", 0) from None
    try:
        check_json(doc, what)
    except InvalidJSON as exc:
        raise TemplateJSONError(str(exc), 0) from None
    value = doc.get(KEY) if isinstance(doc, dict) else None
    if value is None:
        if required:
            raise TemplateJSONError(f"{what} has no `{KEY}` key", 0)
        return []
    key, places = _locate(source)
    if isinstance(value, str):
        return [JSONTemplate(None, value, places[0] if places else key)]
    if isinstance(value, list) and value and all(_is_named(item) for item in value):
        starts = places if len(places) == len(value) else [key] * len(value)
        return [JSONTemplate(item["name"], item["template"], start) for item, start in zip(value, starts, strict=True)]
    raise TemplateJSONError(f"`{KEY}` in {what} is {_kind(value)}; expected a string, or a list of objects "
                            'each with a string "name" and "template"', key)


def _is_named(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("template"), str)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an empty list" if not value else "a list whose items are not all {name, template} objects"
    return {dict: "an object", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), "not a string")


# A JSON string token, or one structural character.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]', re.DOTALL)


def _locate(source: str) -> tuple[int, list[int]]:
    """Where the top-level ``chat_template`` key starts, and where its template strings start: the value
    itself, or the ``template`` string of each object of a list (for a document that parsed)."""
    stack: list[str] = []  # "{" or "[" per open container
    expect_key, key, at = False, None, 0
    found: list[int] = []
    inside = 0  # the depth of the chat_template value, once in it (1 is the top-level object)
    for match in _TOKEN.finditer(source):
        token = match.group()
        if token in "{[":
            if key == KEY and len(stack) == 1:
                inside = 2
            stack.append(token)
            expect_key, key = token == "{", None
        elif token in "}]":
            stack.pop()
            if inside and len(stack) < inside:
                break
        elif token == ",":
            expect_key, key = stack[-1] == "{", None
        elif token != ":":  # a string
            if expect_key:
                key, expect_key = json.loads(token), False
                if key == KEY and len(stack) == 1:
                    at = match.start()
                continue
            if key == KEY and len(stack) == 1:
                return at, [match.start()]
            if key == "template" and inside and len(stack) == inside + 1:
                found.append(match.start())
            key = None
    return at, found


def source_offset(source: str, start: int, line: int) -> int:
    """The offset in ``source`` of the first character of ``line`` (1-based) of the template whose
    JSON string starts at ``start``: escapes are decoded while counting the template's lines."""
    index, current = start + 1, 1
    while current < line and index < len(source) and source[index] != '"':
        if source.startswith("\\n", index):
            current += 1
            index += 2
        elif source[index] == "\\":
            index += 6 if source.startswith("\\u", index) else 2
        else:
            current += source[index] == "\n"  # cannot be in valid JSON, but counted as the template would
            index += 1
    return index
