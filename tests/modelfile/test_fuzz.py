"""Fuzzing the Modelfile front end: parse, compile (``api.plan``), render and ``fmt``, on any input.

The only allowed outcomes are a Modelfile with directives or diagnostics:
``parse_modelfile`` never raises, ``api.plan`` raises only ``ModelfileError`` or
``UsageError``, ``format_modelfile`` returns text or diagnostics, and rendering
any diagnostic works. Every span lies inside the text it points into, with
lines and columns from 1 that agree with its offset, and ``fmt`` is idempotent
on whatever it formats. Inputs: grammar-shaped text (keywords, words, quotes,
escapes, ``${X}``, ``=``, ``#``, continuations, CRLF, a BOM), random bytes,
invalid UTF-8, NUL and control bytes; and, outside Hypothesis, pathological
files (100 KB lines, thousands of continuations or bad lines, over 1 MiB)
whose time must grow linearly. Longer runs: ``python bench/fuzz.py``.
"""

from __future__ import annotations

import bisect
import gc
import re
import shutil
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modeloci import api
from modeloci.diagnostics import Diagnostic, Position, render
from modeloci.errors import ModelfileError, ModelociError, UsageError
from modeloci.modelfile import KEYWORDS, MAX_MODELFILE_BYTES, parse_modelfile
from modeloci.modelfile.ast import Modelfile
from modeloci.modelfile.fmt import format_modelfile
from tests.fuzzing import budget
from tests.modelfile.test_fmt import meaning

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Strategies --------------------------------------------------------------------------------------

_keyword = st.sampled_from([*KEYWORDS, *(k.lower() for k in KEYWORDS), "Weights", "WIEGHTS", "x", "é", "FROM="])
_plain = st.text(alphabet="abcXYZ019._-/:+@*?[]{}é", min_size=1, max_size=8)
_raw_quoted = st.text(alphabet='ab *?=#${}\\"é\t', max_size=8).map(lambda t: '"' + t)  # maybe unclosed
_quoted = st.text(alphabet='ab *?=#${}\\"é\t', max_size=8).map(
    lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"')
_odd = st.sampled_from(["${A}", "${b_2}", '"${A}"', "${", "$", "${1}", "$A", "${A", "=", "#", "\\", "\\x", '\\"',
                        "\\\n", "\\  \n", "\u200b", "\ufeff", "\x00", "\x07", "\x1b", "\x7f", "\r", "\x0c",
                        "\U0001f600"])
_word = st.lists(st.one_of(_plain, _quoted, _raw_quoted, _odd), min_size=1, max_size=4).map("".join)
_blank = st.sampled_from([" ", "  ", "\t", " \\\n  ", " \\   \n\t", "\\\n"])
_comment = st.text(alphabet="ab #\t\\é", max_size=8).map(lambda t: "#" + t)


@st.composite
def _line(draw) -> str:
    kind = draw(st.sampled_from(["directive"] * 4 + ["comment", "blank", "junk"]))
    indent = draw(st.sampled_from(["", " ", "\t"]))
    if kind == "blank":
        return indent
    if kind == "comment":
        return indent + draw(_comment)
    if kind == "junk":
        return indent + draw(_word)
    line = indent + draw(_keyword) + "".join(draw(_blank) + w for w in draw(st.lists(_word, max_size=4)))
    return line + (" " + draw(_comment) if draw(st.booleans()) else "") + draw(st.sampled_from(["", " ", " \\"]))


@st.composite
def _text(draw) -> str:
    lines = draw(st.lists(_line(), min_size=1, max_size=10))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    end = draw(st.sampled_from(["", newline, " \\", "\\" + newline]))
    return draw(st.sampled_from(["", "\ufeff"])) + newline.join(lines) + end


grammar_shaped = _text().map(lambda t: t.encode("utf-8"))


@st.composite
def _mangled(draw) -> bytes:
    """Grammar-shaped text with bytes overwritten or inserted: invalid UTF-8, NUL, controls."""
    data = bytearray(draw(grammar_shaped))
    bad = st.sampled_from([b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\r",
                           b"\x1b"])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        data[at : at + draw(st.integers(0, 1))] = draw(st.one_of(bad, st.binary(min_size=1, max_size=3)))
    return bytes(data)


any_bytes = st.one_of(st.binary(max_size=200), _mangled())

# Invariants --------------------------------------------------------------------------------------


def _position(line_starts: list[int], offset: int) -> Position:
    """``diagnostics.position_at`` in O(log n), so that checking thousands of diagnostics stays linear."""
    line = bisect.bisect_right(line_starts, offset)
    return Position(line, offset - line_starts[line - 1] + 1, offset)


def check_diagnostics(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str]) -> None:
    """Each span lies in its file's text, from 1:1, and agrees with its offsets; every one renders."""
    line_starts: dict[str, list[int]] = {}
    for diag in diagnostics:
        text = sources.get(diag.file) if diag.file is not None else None
        if diag.span is None or text is None:
            continue
        start, end = diag.span.start, diag.span.end
        assert start.line >= 1 and start.column >= 1 and end.line >= 1 and end.column >= 1, diag
        assert 0 <= start.offset <= end.offset <= len(text), diag
        if diag.file not in line_starts:
            line_starts[diag.file] = [0, *(m.end() for m in re.finditer("\n", text))]
        starts = line_starts[diag.file]
        assert (_position(starts, start.offset), _position(starts, end.offset)) == (start, end), diag
    rendered = render(diagnostics, sources)
    assert rendered.count("\n\n") >= len(diagnostics)


def check_parse(data: bytes) -> Modelfile:
    modelfile = parse_modelfile(data, path="Modelfile")
    assert isinstance(modelfile, Modelfile)
    assert modelfile.text.endswith("\n")
    check_diagnostics(modelfile.diagnostics, {modelfile.path: modelfile.text})
    return modelfile


def check_fmt(data: bytes) -> None:
    formatted = format_modelfile(data, path="Modelfile")
    if formatted.text is None:
        assert any(d.is_error for d in formatted.diagnostics)
        return
    again = format_modelfile(formatted.text.encode("utf-8"), path="Modelfile")
    assert again.text == formatted.text, "fmt is not idempotent"
    assert meaning(formatted.text.encode("utf-8")) == meaning(data), "fmt changed the meaning"


def front_end(data: bytes) -> None:
    check_parse(data)
    check_fmt(data)


# Parse, render and fmt -----------------------------------------------------------------------------


@budget(200)
@given(grammar_shaped)
@example(b'FROM scratch\nWEIGHTS "x\nWEIGHTS "y\n  LABEL a=$b \\\n c\nFROM a\\\n')  # several bad logical lines
@example(b"\xef\xbb\xbfFROM scratch\r\nWEIGHTS \\\r\n\r\n")
@example(b'FROM FROM \\\n ""#\n')  # fmt once dropped the quotes, making `#` a comment
@example(b"\xef\xbb\xbf\xef\xbb\xbfFROM scratch\n")  # and the second BOM, making `\ufeffFROM` FROM
def test_grammar_shaped_text_parses_to_directives_or_diagnostics(data: bytes) -> None:
    front_end(data)


@budget(150)
@given(any_bytes)
@example(b"\x00" * 10 + b"\n\x01\xff\n")
@example(b"\xff\xfe\x00F\x00R")
def test_any_bytes_parse_to_directives_or_diagnostics(data: bytes) -> None:
    front_end(data)


# The whole compile on a real build context ---------------------------------------------------------

_FILES = ["single-gguf/tiny-llama-F32.gguf", "single-gguf/chat_template.jinja", "single-gguf/LICENSE",
          "sharded-vision/tiny-vision-00001-of-00002.gguf", "sharded-vision/tiny-vision-00002-of-00002.gguf",
          "sharded-vision/mmproj-tiny-vision-F16.gguf", "sharded-vision/LICENSE.txt"]
_PATHS = ["tiny-llama-F32.gguf", "*.gguf", "tiny-vision-0000?-of-00002.gguf", "tiny-vision-00001-of-00002.gguf",
          "mmproj-tiny-vision-F16.gguf", "chat_template.jinja", "bad.jinja", "LICENSE", "LICENSE*", "tiny-qwen",
          "tiny-qwen/*.safetensors", "tiny-qwen/config.json", "junk.gguf", "junk.safetensors", "missing.gguf",
          "sub", "sub/**", "**/*.gguf", "../outside.gguf", "/etc/passwd", "escape.gguf", "base.tar", "${Q}.gguf",
          '"*.gguf"', "[tm]*.gguf", ".", "..", '""', "Modelfile", "empty.gguf"]
_ARGS = {
    "FROM": ["scratch", "base.tar", "${BASE}", "missing.tar", "localhost/m:1", "registry.example/m:t", "name:tag",
             "tiny-llama-F32.gguf", "sub", "../x"],
    "CONFIG": ["context_size=2048", "context_size=0", "context_size=-1", "context_size=99999999999",
               "context_size=${N}", "nope=1", "context_size=", "=1", "context_size", "context_size=1e3"],
    "LABEL": ["a=b", 'org.opencontainers.image.description="x y"', "org.opencontainers.image.ref.name=x",
              "a=${A}", "${A}=b", "a", "a=b=c"],
    "ARG": ["A", "A=1", "BASE=scratch", "BASE=base.tar", "N=4096", "Q=tiny-llama-F32", "1A", "${A}", "A="],
}
_GOOD = {  # arguments that make sense, so that many examples reach the model checks and the base
    "FROM": ["scratch", "scratch", "base.tar", "${BASE}"],
    "WEIGHTS": ["tiny-llama-F32.gguf", "tiny-vision-0000?-of-00002.gguf", "tiny-qwen", "${Q}.gguf", "sub/x.gguf"],
    "CHAT_TEMPLATE": ["chat_template.jinja", "bad.jinja", "tiny-qwen/config.json"],
    "MMPROJ": ["mmproj-tiny-vision-F16.gguf", "tiny-llama-F32.gguf"],
    "LICENSE": ["LICENSE", "LICENSE*", "LICENSE.txt"],
    "CONFIG": ["context_size=2048", "context_size=${N}"],
    "LABEL": ['org.opencontainers.image.description="x y"', "a=${A}", "b=c"],
}


@st.composite
def _plan_line(draw) -> str:
    keyword = draw(st.sampled_from([*KEYWORDS, "wieghts"]))
    vocabulary = st.sampled_from(_ARGS.get(keyword.upper(), _PATHS))
    words = draw(st.lists(st.one_of(vocabulary, vocabulary, vocabulary, _word), min_size=0, max_size=3))
    return " ".join([keyword, *words])


@st.composite
def _sensible_plan_text(draw) -> str:
    """A Modelfile that makes sense, so that examples reach the model checks, the base and lint."""
    lines = ["ARG A=1 BASE=scratch N=4096 Q=tiny-llama-F32", "FROM " + draw(st.sampled_from(_GOOD["FROM"]))]
    for keyword in ["WEIGHTS", *draw(st.lists(st.sampled_from([*_GOOD][2:]), unique=True))]:
        lines.append(f"{keyword} {draw(st.sampled_from(_GOOD[keyword]))}")
    return "\n".join(lines)


@st.composite
def _plan_text(draw) -> bytes:
    """Half the time a sensible Modelfile over the context's files, else one with any kind of mistake."""
    if draw(st.booleans()):
        return (draw(_sensible_plan_text()) + "\n").encode("utf-8")
    head = draw(st.lists(st.sampled_from(["ARG " + a for a in _ARGS["ARG"]]), max_size=2))
    if draw(st.integers(0, 4)):
        head.append("FROM " + draw(st.sampled_from(_ARGS["FROM"])))
    lines = head + draw(st.lists(st.one_of(_plan_line(), _plan_line(), _line()), max_size=6))
    return "\n".join(lines).encode("utf-8") + b"\n"


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context with real model files (the examples'), broken ones, a base archive and a symlink out."""
    root = tmp_path_factory.mktemp("fuzz-context")
    for name in _FILES:
        shutil.copy(EXAMPLES / name, root / Path(name).name)
    shutil.copytree(EXAMPLES / "hf-safetensors" / "tiny-qwen", root / "tiny-qwen")
    (root / "sub").mkdir()
    shutil.copy(root / "tiny-llama-F32.gguf", root / "sub" / "x.gguf")
    (root / "bad.jinja").write_text("{% for %}")
    (root / "junk.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
    (root / "junk.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    (root / "empty.gguf").write_bytes(b"")
    outside = tmp_path_factory.mktemp("outside") / "outside.gguf"
    shutil.copy(root / "tiny-llama-F32.gguf", outside)
    (root / "escape.gguf").symlink_to(outside)
    (root / "Modelfile").write_bytes(b"FROM scratch\nWEIGHTS tiny-llama-F32.gguf\n")
    api.build(root / "Modelfile", root / "base.tar")
    return root


class _OfflineRegistry:
    """Stands in for the registry client: FROM registry/repo:tag must not reach the network here."""

    def __init__(self, registry: str, *args: object, **kwargs: object) -> None:
        self.registry = registry

    def __getattr__(self, name: str) -> object:
        raise ModelociError(f"{self.registry} is offline in this test")


def check_plan(data: bytes, context: Path, build_args: dict[str, str], target: str, lint: bool) -> None:
    (context / "Modelfile").write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("modeloci.registry.client.RegistryClient", _OfflineRegistry)
        try:
            plan = api.plan(context / "Modelfile", build_args=build_args, format=target, lint=lint,
                            display="Modelfile")
        except ModelfileError as exc:
            assert any(d.is_error for d in exc.diagnostics)
            check_diagnostics(exc.diagnostics, exc.sources)
        except UsageError as exc:
            assert exc.message
        else:
            check_diagnostics(plan.warnings, plan.sources)


@budget(60)
@given(_plan_text(), st.dictionaries(st.sampled_from(["A", "N", "BASE", "Q", "UNUSED"]),
                                     st.sampled_from(["", "1", "scratch", "base.tar", "tiny-llama-F32", "../x", "*"]),
                                     max_size=2),
       st.sampled_from(["docker", "modelpack"]), st.booleans())
@example(b"FROM base.tar\nWEIGHTS tiny-vision-0000?-of-00002.gguf\nMMPROJ mmproj-tiny-vision-F16.gguf\n", {},
         "modelpack", True)
@example(b"FROM localhost/m:1\n", {}, "docker", False)
def test_plan_gives_a_plan_or_one_modelfile_error(context: Path, data: bytes, build_args: dict[str, str],
                                                  target: str, lint: bool) -> None:
    check_plan(data, context, build_args, target, lint)


@budget(40)
@given(any_bytes)
def test_plan_of_any_bytes(context: Path, data: bytes) -> None:
    check_plan(data, context, {}, "docker", False)


# Pathological inputs: outcome, and time that grows linearly ---------------------------------------

# name: (make an input of size ~n, the n whose outcome is checked, and whether its time is measured)
PATHOLOGICAL: dict[str, tuple[Callable[[int], bytes], int, bool]] = {
    "one 100 KB word": (lambda n: b"FROM scratch\nWEIGHTS " + b"a" * (50 * n), 2000, False),
    "100 KB string": (lambda n: b'FROM scratch\nWEIGHTS "' + b"x" * (50 * n) + b'"\n', 2000, False),
    "100 KB comment": (lambda n: b"FROM scratch\n#" + b"x" * (50 * n), 2000, False),
    "100 KB unterminated string": (lambda n: b'FROM scratch\nWEIGHTS "' + b"x" * (50 * n) + b"\\", 2000, True),
    "many words": (lambda n: b"FROM scratch\nWEIGHTS" + b" a" * n, 1000, True),
    "escapes in a string": (lambda n: b'FROM scratch\nLABEL a="' + b'\\"\\\\' * n + b'"\n', 1000, False),
    "escapes in an unterminated string": (lambda n: b'FROM scratch\nLABEL a="' + b"\\$x" * n, 1000, False),
    "references": (lambda n: b"FROM scratch\nWEIGHTS " + b"${A}" * n + b"\n", 1000, False),
    "continued arguments": (lambda n: b"FROM scratch\nWEIGHTS" + b" a \\\n" * n + b" b\n", 1000, False),
    "continuations to the end": (lambda n: b"FROM scratch\nWEIGHTS a" + b" \\\n" * (10 * n), 2000, True),
    "bad lines": (lambda n: b"FROM scratch\n" + b'WEIGHTS "x\n' * n, 500, True),
    "bad continued lines": (lambda n: b"FROM scratch\n" + b"LABEL a=$ \\\n b\n" * n, 300, True),
    "unknown directives": (lambda n: b"WIEGHTS a\n" * n, 500, True),
    "NUL bytes": (lambda n: b"\x00" * (10 * n), 300, True),
    "control characters on one line": (lambda n: b"FROM scratch\nWEIGHTS " + b"a\x01" * (5 * n), 300, True),
    "control characters on many lines": (lambda n: b"FROM \x07\n" * n, 300, False),
    "invalid UTF-8": (lambda n: b"\xff\xfe\n" * n, 500, True),
}


def _seconds(run: Callable[[bytes], object], data: bytes, repeat: int = 3) -> float:
    best = float("inf")
    gc.collect()
    gc.disable()  # collections triggered by the parser's own garbage are not the parser's complexity
    try:
        for _ in range(repeat):
            # CPU time of this thread, not wall time: other processes on a busy CI machine
            # (or pytest-xdist workers) must not make linear work look quadratic.
            start = time.thread_time()
            run(data)
            best = min(best, time.thread_time() - start)
    finally:
        gc.enable()
    return best


def assert_linear(run: Callable[[bytes], object], make: Callable[[int], bytes]) -> None:
    """8x the input takes under 20x the CPU time (linear is 8x, quadratic 64x), from a size that takes
    >= 20 ms (or at most 256 KB after the 8x)."""
    n = 16
    while _seconds(run, make(n), repeat=1) < 0.02 and len(make(16 * n)) <= MAX_MODELFILE_BYTES // 4:
        n *= 2
    ratios = []
    for _ in range(3):  # a noisy machine gets two more tries; quadratic work (64x) fails all three
        small, large = _seconds(run, make(n)), _seconds(run, make(8 * n), repeat=2)
        ratios.append(large / small)
        if large < 20 * small:
            return
    raise AssertionError(f"8x the input took {min(ratios):.1f}x the time at best (tries: {ratios})")


def _everything(data: bytes) -> None:
    modelfile = parse_modelfile(data)
    render(modelfile.diagnostics, {modelfile.path: modelfile.text})
    format_modelfile(data)


@pytest.mark.parametrize("case", sorted(PATHOLOGICAL))
def test_pathological_input_gives_directives_or_diagnostics(case: str) -> None:
    make, n, _ = PATHOLOGICAL[case]
    front_end(make(n))  # 100 KB lines, thousands of continuations, errors or control characters


@pytest.mark.parametrize("case", sorted(name for name, (_, _, timed) in PATHOLOGICAL.items() if timed))
def test_pathological_input_takes_linear_time(case: str) -> None:
    assert_linear(_everything, PATHOLOGICAL[case][0])


def test_a_long_line_is_cut_in_the_excerpt() -> None:
    # Regression: every diagnostic on a 1 MB line printed the whole line (quadratic output).
    data = b"FROM scratch\nWEIGHTS " + b"a" * 100_000 + b" \x01 \x02\n"
    modelfile = check_parse(data)
    text = render(modelfile.diagnostics, {modelfile.path: modelfile.text})
    assert [d.code for d in modelfile.diagnostics] == ["MF009", "MF009"]
    assert max(len(line) for line in text.splitlines()) < 250
    source, carets = [line for line in text.splitlines() if line.startswith(("2 |", "  |  "))][:2]
    assert source.startswith("2 | …aaa") and source.endswith("a \N{REPLACEMENT CHARACTER} \N{REPLACEMENT CHARACTER}")
    assert carets.index("^") == source.index("\N{REPLACEMENT CHARACTER}") and carets.endswith("^ not allowed")


@pytest.mark.parametrize("word", ['""#a.gguf', '""#', '"" #x', '""#${A}'])
def test_fmt_keeps_a_word_that_starts_with_hash_after_empty_quotes(word: str) -> None:
    # Regression: `WEIGHTS ""#a.gguf x` was formatted to `WEIGHTS #a.gguf x`, a comment.
    source = f"FROM scratch\nWEIGHTS {word} x\n".encode()
    out = format_modelfile(source).text
    assert out is not None and meaning(out.encode()) == meaning(source)
    check_fmt(source)


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbfFROM scratch\n"])
def test_fmt_keeps_a_keyword_that_starts_with_a_second_bom(data: bytes) -> None:
    # Regression: fmt wrote `\ufeffFROM` first, which reads back as a BOM and `FROM`.
    assert format_modelfile(data).text == data.decode().removesuffix("\n") + "\n"  # both BOMs kept
    check_fmt(data)


def test_many_bad_lines_are_each_reported_where_they_are() -> None:
    # Regression: each syntax error re-parsed the whole text (a 1 MiB file of them took hours).
    modelfile = check_parse(b"FROM scratch\n" + b'WEIGHTS "x\nLABEL a=b \\\n  c=$\n' * 1000)
    spans = [(d.code, d.span.start.line, d.span.start.column) for d in modelfile.diagnostics if d.span]
    assert spans == [item for i in range(1000) for item in (("MF001", 2 + 3 * i, 9), ("MF004", 4 + 3 * i, 5))]
    assert len(modelfile.directives) == 1


def _plan_error(path: Path) -> tuple[ModelfileError, int]:
    """The ModelfileError of ``api.plan(path)``, and the peak memory traced while planning."""
    tracemalloc.start()
    try:
        api.plan(path)
    except ModelfileError as exc:
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError("no ModelfileError")


@pytest.mark.parametrize("size", [MAX_MODELFILE_BYTES + 1, 16 * MAX_MODELFILE_BYTES])
def test_over_the_limit_is_mf012_without_reading_it(size: int, tmp_path: Path) -> None:
    data = b"FROM scratch\n" + b"\xff\x00" * (size // 2)
    tracemalloc.start()
    modelfile, peak = parse_modelfile(data), tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    formatted = format_modelfile(data)
    assert [d.code for d in modelfile.diagnostics] == [d.code for d in formatted.diagnostics] == ["MF012"]
    assert formatted.text is None and peak < (1 << 20)  # rejected by its length: nothing decoded
    path = tmp_path / "Modelfile"
    path.write_bytes(b"FROM scratch\n")
    with path.open("ab") as f:  # a sparse file of `size` KiB: a weights file named by mistake
        f.truncate(size * 1024)
    error, peak = _plan_error(path)
    assert [d.code for d in error.diagnostics] == ["MF012"]
    assert f"it has {size * 1024} bytes" in render(error.diagnostics, error.sources)
    assert peak < 4 * MAX_MODELFILE_BYTES  # regression: the whole file was read first
