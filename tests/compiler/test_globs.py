"""Glob segments are matched as fnmatch matches them, in time linear in the pattern."""

from __future__ import annotations

import fnmatch
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from modeloci.compiler.paths import _literal_brackets, _segment_matcher

_PATTERN_CHARS = st.sampled_from(list("[]!-^*?ab\\&~|"))
_NAME_CHARS = st.sampled_from(list("[]!-^ab\\&~|*?"))


@settings(max_examples=400, deadline=None)
@given(pattern=st.text(_PATTERN_CHARS, max_size=12), names=st.lists(st.text(_NAME_CHARS, max_size=6), max_size=8))
def test_segment_matcher_answers_as_fnmatch_does(pattern: str, names: list[str]) -> None:
    match = _segment_matcher(pattern)
    for name in names:
        assert match(name) is fnmatch.fnmatchcase(name, pattern), (pattern, name)


def test_unclosed_brackets_become_sets_of_one_bracket() -> None:
    assert _literal_brackets("[") == "[[]"
    assert _literal_brackets("a[b") == "a[[]b"
    assert _literal_brackets("[!]") == "[[]!]"  # `]` first in a set is a member: this set is never closed
    assert _literal_brackets("[]]x[") == "[]]x[[]"
    assert _literal_brackets("[[ab]") == "[[ab]"  # the first `[` opens a set holding `[`, `a` and `b`
    assert _literal_brackets("model-[0-9].gguf") == "model-[0-9].gguf"


def test_twenty_thousand_unclosed_brackets_match_in_linear_time() -> None:
    # fnmatch.translate scans to the end for each unclosed `[`: about 9 s for 20,000, over a minute for 500,000.
    started = time.monotonic()
    match = _segment_matcher("[" * 20_000)
    assert match("[" * 20_000) and not match("[" * 19_999)
    assert time.monotonic() - started < 1
