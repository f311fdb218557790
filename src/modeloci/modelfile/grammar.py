"""Loading ``grammar/modelfile.lark`` and building the one cached LALR parser.

The grammar ships inside the wheel as ``modeloci/grammar/modelfile.lark``. In a
source checkout installed in editable mode that copy does not exist, so the
repository's ``grammar/`` folder is used instead; a test checks that the wheel's
copy is byte-identical to the repository's.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from lark import Lark

GRAMMAR_NAME = "modelfile.lark"


def grammar_text() -> str:
    """The text of the Modelfile grammar."""
    packaged = resources.files("modeloci").joinpath("grammar", GRAMMAR_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[3] / "grammar" / GRAMMAR_NAME
    return checkout.read_text(encoding="utf-8")


@functools.cache
def parser() -> Lark:
    """The LALR parser for Modelfiles, built once per process."""
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )
