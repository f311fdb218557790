"""A canonical, readable dump of the AST, for golden tests and ``--debug`` output.

Each directive is one line with its span; its words, pairs and declarations
follow, indented, with every piece shown (``text``, quoted ``qtext``, ``var``,
``eq``) so the dump shows exactly what the parser understood.
"""

from __future__ import annotations

import json

from modeloci.modelfile.ast import (
    ArgDirective,
    ChatTemplateDirective,
    Comment,
    ConfigDirective,
    Directive,
    Equals,
    FromDirective,
    LabelDirective,
    MmprojDirective,
    Modelfile,
    Pair,
    Piece,
    Text,
    VarRef,
    Word,
)
from modeloci.modelfile.directives import keyword_of


def dump_ast(modelfile: Modelfile) -> str:
    """The AST as text: comments and directives in source order."""
    nodes = sorted([*modelfile.comments, *modelfile.directives], key=lambda n: n.span.start)
    out: list[str] = []
    for node in nodes:
        if not isinstance(node, Comment):
            out += _directive(node)
        else:
            out.append(f"comment {json.dumps(node.text, ensure_ascii=False)} {node.span}")
    return "\n".join(out) + "\n"


def _directive(directive: Directive) -> list[str]:
    lines = [f"{keyword_of(directive)} {directive.span}"]
    if isinstance(directive, ConfigDirective | LabelDirective):
        lines += [f"  {_pair(pair)}" for pair in directive.items]
    elif isinstance(directive, ArgDirective):
        for decl in directive.decls:
            default = f" = {_word(decl.default)}" if decl.default is not None else ""
            lines.append(f"  decl {decl.name} {decl.name_span}{default}")
    elif isinstance(directive, FromDirective):
        lines.append(f"  source {_word(directive.source)}")
    elif isinstance(directive, ChatTemplateDirective | MmprojDirective):
        lines.append(f"  path {_word(directive.path)}")
    else:
        lines += [f"  path {_word(word)}" for word in directive.paths]
    return lines


def _pair(pair: Pair) -> str:
    return f"pair {pair.key} {pair.key_span} = {_word(pair.value)}"


def _word(word: Word) -> str:
    return "[" + " ".join(_piece(p) for p in word.pieces) + f"] {word.span}"


def _piece(piece: Piece) -> str:
    if isinstance(piece, Text):
        kind = "qtext" if piece.quoted else "text"
        return f"{kind} {json.dumps(piece.value, ensure_ascii=False)}"
    if isinstance(piece, VarRef):
        return f"{'qvar' if piece.quoted else 'var'} {piece.name}"
    assert isinstance(piece, Equals)
    return "eq"
