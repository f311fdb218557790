"""What a chat template is tried on: the standard conversations, and the ways runtimes call a template.

A runtime renders a template with the conversation plus variables of its own,
and real templates are written for one runtime or another. A template passes a
conversation when it renders it under at least one :data:`CONVENTIONS` entry:

- ``transformers``: the special tokens (``bos_token``, ``eos_token``) and,
  with tools, ``tools``; a tool call's ``arguments`` as an object, as
  transformers' documentation and vLLM pass them;
- the same with ``arguments`` as a JSON string, as the OpenAI API sends them
  and llama.cpp passes them to templates that do not take objects
  (Functionary v3.2 adds them to a string);
- ``runtime extras``: what llama.cpp adds (``datetime``, ``date_string``,
  ``enable_thinking``; for Llama 3.x ``tools_in_user_message`` and
  ``builtin_tools``; for FireFunction ``functions``, the tools as JSON text)
  and what transformers' callers pass as keyword arguments (``documents``,
  ``custom_tools``), with each ``arguments`` convention.

Only a conversation that fails under the first convention is tried under the
next ones, so a template that works costs one render per conversation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Placeholders for what every runtime passes besides the conversation
# (transformers passes all the tokenizer's special tokens; llama.cpp these two).
_SPECIAL_TOKENS: dict[str, Any] = {"bos_token": "<s>", "eos_token": "</s>"}

_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The temperature unit"},
            },
            "required": ["city"],
        },
    },
}

# Mistral's templates require tool call ids of exactly 9 alphanumeric characters.
_CALL_ID = "call12345"
# An assistant turn that only calls a tool has content "" rather than None or
# no key: several templates (Granite, Phi-3.5, gpt-oss) concatenate or search
# the content unguarded, and transformers' examples pass a string.
_WEATHER_CALL = {"name": "get_current_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
_TOOL_CALL_TURN = {
    "role": "assistant",
    "content": "",
    "tool_calls": [{"id": _CALL_ID, "type": "function", "function": _WEATHER_CALL}],
}
_TOOL_RESULT_TURN = {
    "role": "tool",
    "tool_call_id": _CALL_ID,
    "name": "get_current_weather",
    "content": '{"temperature": 22, "unit": "celsius"}',
}
# What a RAG request passes (transformers' `documents` argument; Command-R's templates read it).
_DOCUMENTS = ({"title": "Paris", "text": "Paris is the capital and largest city of France."},)
# The built-in tools llama.cpp names for Llama 3.x when a request offers them.
_BUILTIN_TOOLS = ("brave_search", "wolfram_alpha")


@dataclass(frozen=True, slots=True)
class TrialConversation:
    """A standard conversation a template is rendered with; ``name`` completes "fails ...".

    An ``optional`` conversation is one a model may refuse or not support
    (tools, a system message): a failure there is a warning, not an error.
    """

    name: str
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] | None = None
    add_generation_prompt: bool = True
    optional: bool = True

    @property
    def has_tool_calls(self) -> bool:
        return any(m.get("tool_calls") for m in self.messages)

    def variables(self) -> dict[str, Any]:
        """Fresh copies of everything the template sees (the ``transformers`` convention), so no
        render can affect the next."""
        variables = {**_SPECIAL_TOKENS, "messages": list(self.messages)}
        variables["add_generation_prompt"] = self.add_generation_prompt
        # Without tools, `tools` stays undefined rather than None: llama.cpp (what
        # Docker Model Runner runs) sets it only when there are tools, and
        # transformers picks a model's "tool_use" template only when tools are
        # given. Hermes 3's tool_use template loops over `tools` unguarded, so
        # None would report an error no runtime produces.
        if self.tools is not None:
            variables["tools"] = list(self.tools)
        return copy.deepcopy(variables)


@dataclass(frozen=True, slots=True)
class Convention:
    """One way a runtime calls a template: the variables it adds, and how it gives tool-call arguments."""

    name: str
    extras: Callable[[TrialConversation], dict[str, Any]]
    arguments_as_text: bool = False

    def variables(self, conversation: TrialConversation) -> dict[str, Any]:
        variables = conversation.variables()
        variables.update(copy.deepcopy(self.extras(conversation)))
        if self.arguments_as_text:
            for message in variables["messages"]:
                for call in message.get("tool_calls") or ():
                    function = call.get("function") or {}
                    if not isinstance(function.get("arguments"), str):
                        function["arguments"] = json.dumps(function.get("arguments"), ensure_ascii=False)
        return variables


def _no_extras(conversation: TrialConversation) -> dict[str, Any]:
    return {}


def _runtime_extras(conversation: TrialConversation) -> dict[str, Any]:
    now = datetime.now()
    tools = list(conversation.tools or ())
    extras: dict[str, Any] = {
        # llama.cpp's common_chat_extra_context(), for every template:
        "datetime": now.strftime("%b %d %Y"),
        "date_string": now.strftime("%d %b %Y"),
        "enable_thinking": True,
        # llama.cpp's Llama 3.x and FireFunction v2 handlers:
        "tools_in_user_message": False,
        "functions": json.dumps(tools, ensure_ascii=False, indent=2) if tools else "",
        # transformers' apply_chat_template(documents=...), a RAG request:
        "documents": list(_DOCUMENTS),
    }
    if tools:
        extras["builtin_tools"] = list(_BUILTIN_TOOLS)
        extras["custom_tools"] = tools  # Llama 3.1's name for tools passed as a keyword argument
    return extras


CONVENTIONS: tuple[Convention, ...] = (
    Convention("transformers", _no_extras),
    Convention("transformers, arguments as JSON text", _no_extras, arguments_as_text=True),
    Convention("runtime extras", _runtime_extras),
    Convention("runtime extras, arguments as JSON text", _runtime_extras, arguments_as_text=True),
)


def conventions_for(conversation: TrialConversation) -> tuple[Convention, ...]:
    """The conventions worth trying on ``conversation``, in order (arguments matter only with tool calls)."""
    if conversation.has_tool_calls:
        return CONVENTIONS
    return tuple(c for c in CONVENTIONS if not c.arguments_as_text)


_CHAT = (
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "And of Italy?"},
)

WITH_TOOLS = "with tools"
# "without a system message" is the plain user/assistant conversation every chat template must render.
TRIAL_CONVERSATIONS: tuple[TrialConversation, ...] = (
    TrialConversation("with a system message", ({"role": "system", "content": "You are a helpful assistant."}, *_CHAT)),
    TrialConversation("without a system message", _CHAT, optional=False),
    TrialConversation(
        WITH_TOOLS,
        ({"role": "user", "content": "What is the weather in Paris?"}, _TOOL_CALL_TURN, _TOOL_RESULT_TURN),
        tools=(_WEATHER_TOOL,),
    ),
)
OPTIONAL_CONVERSATIONS = frozenset(c.name for c in TRIAL_CONVERSATIONS if c.optional)
