"""A long fuzz run for humans: the fuzz tests' properties with many more examples.

    .venv/bin/python bench/fuzz.py --examples 20000              # every property, 20000 examples each
    .venv/bin/python bench/fuzz.py --examples 5000 -k plan        # only tests whose name matches -k
    .venv/bin/python bench/fuzz.py --examples 50000 --seed 7 -x   # a fixed seed; stop at the first failure

In CI (``pytest``) each property of ``tests/modelfile/test_fuzz.py`` (Modelfile
parse, ``plan``, render, ``fmt``) and ``tests/model/test_fuzz_headers.py``
(GGUF and safetensors readers on mutated real headers) has a small budget, so
the set runs in seconds. This script registers and loads the Hypothesis profile
``modeloci-fuzz`` (``tests/fuzzing.py``) with ``--examples`` and a finite
deadline, then runs those two files with pytest in this process; every
property reads its settings from that profile. The pathological-input tests
(100 KB lines, over-size files, linear time) run once, as in CI.

A failure is printed with its smallest example and a ``@reproduce_failure``
blob; Hypothesis also saves it in ``.hypothesis/`` so the next plain
``pytest`` run replays it first. Add the example to the test with
``@example(...)`` once the bug is fixed. Expect about 1 ms per example for the
parsers and 5-10 ms for ``plan`` examples; ``--examples 20000`` takes minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ["tests/modelfile/test_fuzz.py", "tests/model/test_fuzz_headers.py"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=20000, help="examples per property (default 20000)")
    parser.add_argument("--deadline", type=float, default=10.0,
                        help="seconds one example may take before it counts as a hang (default 10; 0: none)")
    parser.add_argument("--seed", help="Hypothesis seed, for a run that can be repeated")
    parser.add_argument("-k", dest="keyword", help="run only tests whose name matches (pytest -k)")
    parser.add_argument("-x", dest="exitfirst", action="store_true", help="stop at the first failure")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    import pytest

    pytest_args = [*FILES, "-p", "no:cacheprovider", "-q", "-ra", "--hypothesis-show-statistics"]
    if args.seed is not None:
        pytest_args += ["--hypothesis-seed", args.seed]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.exitfirst:
        pytest_args.append("-x")
    deadline = timedelta(seconds=args.deadline) if args.deadline > 0 else None
    return int(pytest.main(pytest_args, plugins=[_Profile(args.examples, deadline)]))


class _Profile:
    """Registers the fuzz profile once pytest has loaded Hypothesis (importing it first
    would keep pytest from rewriting its asserts), before any test module is imported."""

    def __init__(self, examples: int, deadline: timedelta | None) -> None:
        self.examples, self.deadline = examples, deadline

    def pytest_configure(self, config: object) -> None:
        from tests.fuzzing import register_profile

        register_profile(self.examples, self.deadline)


if __name__ == "__main__":
    sys.exit(main())
