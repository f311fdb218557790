"""Loading ``grammar/modelfile.lark`` and building the one cached LALR parser.

The grammar ships inside the wheel as ``modeloci/grammar/modelfile.lark``. In a
source checkout installed in editable mode that copy does not exist, so the
repository's ``grammar/`` folder is used instead; a test checks that the wheel's
copy is byte-identical to the repository's.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import resources
from pathlib import Path

import lark
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
    """The LALR parser for Modelfiles, built once per process.

    Building the LALR tables takes about 80 ms, most of a ``modeloci plan``'s
    own work, so the analysed grammar is kept in the user's cache folder
    (Lark's own cache, keyed on the grammar's hash; a stale or broken file is
    rebuilt). Where that folder cannot be written, the parser is built each time.
    """
    text = grammar_text()
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False,
                cache=_cache_file(text) or False)


def _cache_file(text: str) -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "modeloci"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    key = hashlib.sha256(f"{lark.__version__}\0{text}".encode()).hexdigest()[:16]
    return str(folder / f"grammar-{key}.lark-cache")
