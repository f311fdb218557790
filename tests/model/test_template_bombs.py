"""Chat templates that attack the build with time or memory: each is stopped at a limit, quickly.

The checks run with small limits (a 0.2 s budget, a 256 MiB memory cap for
the worker), so that a defence removed makes a test fail, not hang or fill the
machine: a watchdog alarm ends any test that runs away in this process.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeloci.model import template_worker, templates
from modeloci.model.templates import (
    TemplateLimits,
    TemplateProblem,
    check_chat_template,
    hf_environment,
)
from tests import factories

SYSTEM = "with a system message"
SMALL = TemplateLimits(time_budget_s=0.2, memory_bytes=256 << 20)


class _Runaway(BaseException):
    """Raised by the watchdog; a BaseException, so no `except Exception` in the check swallows it."""


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise _Runaway("the check ran for 20 s: a time limit is not enforced")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 20)  # forked workers do not inherit it
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _limit(message: str) -> list[TemplateProblem]:
    return [TemplateProblem("limit", message, None, SYSTEM)]


# Time -----------------------------------------------------------------------------------------

NESTED_LOOPS = "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}"


def test_nested_loops_without_calls_are_killed_at_the_time_budget() -> None:
    # 10^10 iterations, no call and no output in the loops: nothing inside the render can notice the time.
    started = time.monotonic()
    problems = check_chat_template(NESTED_LOOPS, limits=SMALL)
    assert time.monotonic() - started < 1.5
    assert problems == _limit("rendering took longer than 0.2 s")


def test_nested_loops_calling_only_filters_are_killed_at_the_time_budget() -> None:
    # Filters are called directly, not through the sandbox's call(): no deadline check there either.
    text = "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% set x = j|abs %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    problems = check_chat_template(text, limits=SMALL)
    assert time.monotonic() - started < 1.5
    assert problems == _limit("rendering took longer than 0.2 s")


def test_a_template_that_compiles_forever_is_killed_while_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_forever(self: object, source: str, *args: object, **kwargs: object) -> None:
        while True:
            pass

    monkeypatch.setattr(type(hf_environment()), "from_string", compile_forever)
    assert check_chat_template("{{ x }}", limits=SMALL) == [
        TemplateProblem("limit", "compiling took longer than 0.2 s", None, None)]


# Memory: each of these reached about 3 GB before ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{{ "a"|center(3000000000) }}',
                     "filter `center` would make 3000000000 characters, more than 1048576",
                     id="center"),
        pytest.param('{{ "%03000000000d" % 1 }}', "a `%` format would make more than 1048576 characters", id="percent"),
        pytest.param('{{ "a"' + '|replace("a", "aaaaaaaaaa")' * 9 + " }}",
                     "filter `replace` would make 10000000 characters, more than 1048576", id="chained replace"),
        pytest.param('{% set ns = namespace(s="a") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
                     "a concatenation (`~`) would make more than 1048576 characters", id="doubling namespace string"),
    ],
)
def test_memory_bombs_are_refused_before_they_allocate(text: str, message: str) -> None:
    started = time.monotonic()
    assert check_chat_template(text, limits=SMALL) == _limit(message)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
         "a concatenation would make 2097152 characters, more than 1048576"),
        ("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
         "a concatenation would make 2097152 items, more than 1048576"),
        ("{% set a = ['x' * 1000] * 1000 %}{{ [a] * 1000 }}",
         "an output value would make more than 1048576 characters"),
        ("{% set a = ['x' * 1000] * 1000 %}{{ ([a] * 1000)|tojson }}",
         "filter `tojson` would make more than 1048576 characters"),
        ("{% set a = ['x' * 1000] * 1000 %}{{ ([a] * 1000)|join(',') }}",
         "filter `join` would make more than 1048576 characters"),
        ("{% set a = ['x' * 1000] * 1000 %}{{ ','.join([a] * 1000) }}",
         "`join` would make more than 1048576 characters"),
        ("{% set a = ['x' * 1000] * 1000 %}{{ ([a] * 1000)|string }}",
         "filter `string` would make more than 1048576 characters"),
        ('{{ "{:>3000000000}".format(1) }}', "a `str.format` field would make more than 1048576 characters"),
        ('{{ "{0}{0}{0}{0}".format("x" * 300000) }}', "a `str.format` would make more than 1048576 characters"),
        ('{{ ("a" * 1000000)|replace("a", "a" * 3000) }}',
         "filter `replace` would make 3000000000 characters, more than 1048576"),
        ('{{ "x".ljust(3000000000) }}', "`ljust` would make 3000000000 characters, more than 1048576"),
        ('{{ "x".zfill(3000000000) }}', "`zfill` would make 3000000000 characters, more than 1048576"),
        ('{{ ("x" * 1000).replace("x", "y" * 2000) }}', "`replace` would make 2000000 characters, more than 1048576"),
        ('{{ ("\t" * 1000).expandtabs(2000) }}', "`expandtabs` would make 2001000 characters, more than 1048576"),
        ('{{ (1).to_bytes(3000000000, "big") }}', "`to_bytes` would make 3000000000 bytes, more than 1048576"),
        ("{{ lipsum(100000) }}", "`lipsum` would make more than 1048576 characters"),
        ('{{ "x"|indent(3000000000, true) }}', "filter `indent` would make more than 1048576 characters"),
        ('{{ ("ab" * 500000)|wordwrap(1, wrapstring="x" * 1000) }}',
         "filter `wordwrap` would make more than 1048576 characters"),
        ('{{ "%s"|format("x" * 2000000) }}', "a repetition would make 2000000 items, more than 1048576"),
        ('{{ [1]|batch(3000000000, 0)|list }}', "filter `batch` would make 3000000000 items, more than 1048576"),
        ("{{ [1]|slice(3000000000)|list }}", "filter `slice` would make 3000000000 items, more than 1048576"),
        ("{{ ([[1] * 1000] * 2000)|sum(start=[]) }}", "filter `sum` would make 2000000 items, more than 1048576"),
        ("{% macro m() %}{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}{% endmacro %}{{ m() }}",
         "a block's output would make 2000000 characters, more than 1048576"),
        ("{% set x %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}",
         "a block's output would make 1100000 characters, more than 1048576"),
        ("{% filter upper %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endfilter %}",
         "a block's output would make 1100000 characters, more than 1048576"),
        ("{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}",
         "`extend` would make 2097152 items, more than 1048576"),
        ("{% set l = [['x' * 1000] * 10] %}{% for i in range(10) %}{% set _ = l.extend(l) %}{% endfor %}{{ l|tojson }}",
         "filter `tojson` would make more than 1048576 characters"),
    ],
)
def test_other_ways_to_grow_a_value_are_refused_before_they_allocate(text: str, message: str) -> None:
    assert check_chat_template(text, limits=SMALL) == _limit(message)


TINY = TemplateLimits(max_chars=1000, time_budget_s=2, memory_bytes=256 << 20)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{% set l = [1] %}{% for x in l %}{% set _ = l.append(x) %}{% endfor %}",
                     "`append` would make 1001 items, more than 1000", id="append to the list iterated"),
        pytest.param("{% set l = [1] %}{% for x in l %}{% set _ = l.insert(0, x) %}{% endfor %}",
                     "`insert` would make 1001 items, more than 1000", id="insert"),
        pytest.param("{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}",
                     "`extend` would make 1024 items, more than 1000", id="extend doubling"),
        pytest.param("{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l|map('abs')) %}{% endfor %}",
                     "`extend` would make more than 1000 items", id="extend with a generator"),
        pytest.param("{% set d = {} %}{% for i in range(5000) %}{% set _ = d.setdefault(i, i) %}{% endfor %}",
                     "`setdefault` would make 1001 items, more than 1000", id="setdefault"),
        pytest.param("{% set d = {} %}{% set _ = d.update(range(100000)|batch(2)) %}",
                     "`update` would make more than 1000 items", id="update with a generator of pairs"),
        pytest.param("{% set d = {'a': 1} %}{% set _ = d.update(range(2000)|batch(2)|list, x=1) %}",
                     "`update` would make 1002 items, more than 1000", id="update with a list"),
        pytest.param("{{ range(100000)|map('abs')|tojson }}", "filter `tojson` would make more than 1000 items",
                     id="tojson of a generator"),
    ],
)
def test_in_place_changes_are_refused_before_they_pass_the_limit(text: str, message: str) -> None:
    # A limit of 1000 items, so that a check removed gives a modest list, not gigabytes.
    started = time.monotonic()
    assert check_chat_template(text, limits=TINY) == _limit(message)
    assert time.monotonic() - started < 1


def test_the_worker_memory_cap_stops_what_no_size_check_covers() -> None:
    # The size checks turned off (a limit of 10^12 characters): the worker's address-space cap is the backstop.
    unchecked = TemplateLimits(max_chars=10**12, time_budget_s=5, memory_bytes=128 << 20)
    started = time.monotonic()
    problems = check_chat_template('{{ "a"|center(1000000000) }}', limits=unchecked)
    assert time.monotonic() - started < 4
    assert problems == _limit("the check ran out of memory (its worker may use 128 MiB more)")


@pytest.mark.parametrize(
    ("text", "output"),
    [
        ('{{ "x"|center(9) }}|{{ "%05d" % 42 }}|{{ "{:>4}".format("a") }}', "    x    |00042|   a"),
        ('{{ "a-b"|replace("-", "--") }}|{{ ["a", "b"]|join(", ") }}|{{ "ab" ~ 1 }}|{{ "x".ljust(3) }}.',
         "a--b|a, b|ab1|x  ."),
        ('{{ {"a": [1, 2]}|tojson(indent=2) }}', '{\n  "a": [\n    1,\n    2\n  ]\n}'),
        ("{% set ns = namespace(s='') %}{% for i in range(3) %}{% set ns.s = ns.s + 'ab' %}{% endfor %}{{ ns.s }}",
         "ababab"),
        ("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{% set b %}B{% endset %}{{ b }}", "<1>B"),
        ("{{ [[1, 2], [3]]|sum(start=[]) }}|{{ 'a\tb'.expandtabs(2) }}|{{ [1, 2, 3]|batch(2)|list }}",
         "[1, 2, 3]|a b|[[1, 2], [3]]"),
    ],
)
def test_ordinary_uses_of_the_checked_operations_render_as_before(text: str, output: str) -> None:
    assert hf_environment().from_string(text).render() == output


# Through the command line ----------------------------------------------------------------------


@pytest.fixture
def context(tmp_path: Path) -> Path:
    factories.gguf(tmp_path / "model.gguf")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS model.gguf\nCHAT_TEMPLATE chat.jinja\n")
    return tmp_path


def _mf067(detail: str) -> str:
    return (
        "error[MF067]: Chat template `chat.jinja` fails with a system message\n"
        " --> Modelfile:3:15\n"
        "  |\n"
        "3 | CHAT_TEMPLATE chat.jinja\n"
        "  |               ^^^^^^^^^^ fails to render\n"
        "  |\n"
        f"  = {detail}\n"
        "help: runtimes render this template for every request; fix it or choose another\n"
        "\n"
    )


_ENDINGS = {"plan": "error: 1 problem in the Modelfile\n", "build": "error: 1 problem in the Modelfile\n",
            "lint": "failed: 1 Modelfile checked, 1 with errors, 0 warnings\n"}


@pytest.mark.parametrize("verb", ["plan", "lint", "build"])
@pytest.mark.parametrize(
    ("text", "detail"),
    [
        pytest.param(NESTED_LOOPS, "rendering took longer than 0.2 s", id="nested loops"),
        pytest.param('{{ "a"|center(3000000000) }}',
                     "filter `center` would make 3000000000 characters, more than 1048576",
                     id="center"),
        pytest.param('{{ "%03000000000d" % 1 }}', "a `%` format would make more than 1048576 characters", id="percent"),
    ],
)
def test_template_bombs_fail_the_command_with_mf067(verb: str, text: str, detail: str, cli, context: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_TIME_BUDGET_S", 0.2)
    monkeypatch.setattr(templates, "MAX_WORKER_MEMORY_BYTES", 256 << 20)
    (context / "chat.jinja").write_text(text)
    extra = ("-o", str(context / "out.tar")) if verb == "build" else ()
    started = time.monotonic()
    result = cli(verb, "-f", "Modelfile", *extra, cwd=context)
    assert time.monotonic() - started < 3
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == _mf067(detail) + _ENDINGS[verb]
    assert not (context / "out.tar").exists()


# The worker ------------------------------------------------------------------------------------


def test_a_worker_that_dies_is_reported_not_waited_for() -> None:
    def die(send: template_worker.Send) -> None:
        send({"stage": "one"})
        os.kill(os.getpid(), signal.SIGKILL)

    result = template_worker.run_in_worker(die, stage_budget_s=5, memory_bytes=64 << 20)
    assert (result.stage, result.timed_out, result.failure) == ("one", False, "the worker was killed by signal 9")


def test_each_stage_of_a_worker_has_its_own_budget() -> None:
    def stages(send: template_worker.Send) -> None:
        for name in ("a", "b", "c"):
            send({"stage": name})
            time.sleep(0.15)  # each under the 0.25 s budget, all three over it

    result = template_worker.run_in_worker(stages, stage_budget_s=0.25, memory_bytes=64 << 20)
    assert (result.timed_out, result.failure) == (False, None)
    assert [m.get("stage") for m in result.messages] == ["a", "b", "c", None]
    result = template_worker.run_in_worker(lambda send: time.sleep(10), stage_budget_s=0.1, memory_bytes=64 << 20)
    assert (result.stage, result.timed_out) == (None, True)


def test_a_template_that_compiles_forever_fails_the_plan(cli, context: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_forever(self: object, source: str, *args: object, **kwargs: object) -> None:
        while True:
            pass

    monkeypatch.setattr(templates, "RENDER_TIME_BUDGET_S", 0.2)
    monkeypatch.setattr(type(hf_environment()), "from_string", compile_forever)
    (context / "chat.jinja").write_text("{{ messages }}")
    result = cli("plan", "-f", "Modelfile", cwd=context)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == _mf067("compiling took longer than 0.2 s").replace(
        "fails with a system message", "fails to compile") + "error: 1 problem in the Modelfile\n"
