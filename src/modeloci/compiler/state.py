"""What the compiler gathers while it walks a Modelfile: files with roles, settings, the base."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modeloci.compiler.args import ArgScope
from modeloci.compiler.model import Role
from modeloci.compiler.paths import BuildContext, ContextFile
from modeloci.diagnostics import Span
from modeloci.formats.facts import ModelFacts
from modeloci.modelfile.directives import Report

if TYPE_CHECKING:
    from modeloci.compiler.base import Base
    from modeloci.registry.client import RegistryClient
    from modeloci.store import Store


@dataclass
class Planned:
    """A context file given a role by a directive.

    ``layer_path`` is the file's path inside the artifact: relative to the
    folder it was named from (a ``WEIGHTS`` folder, or the file's own folder).
    ``via`` says how the Modelfile chose it: by its ``path``, by a ``glob``, or
    as part of a WEIGHTS ``folder``; EXCLUDE leaves out only the last two.
    """

    file: ContextFile
    role: Role
    span: Span
    keyword: str
    layer_path: str
    via: str = "path"

    @property
    def line(self) -> int:
        return self.span.start.line


@dataclass
class Exclusion:
    """One EXCLUDE pattern: the context paths it matches (a folder stands for what is under it), and
    the planned files it left out."""

    span: Span
    pattern: str
    matched: frozenset[str]
    is_glob: bool
    hits: list[Planned] = field(default_factory=list)

    def covers(self, rel: str) -> bool:
        parts = rel.split("/")
        return any("/".join(parts[:i]) in self.matched for i in range(1, len(parts) + 1))


@dataclass
class State:
    context: BuildContext
    args: ArgScope
    report: Report
    mtime: int = 0
    context_display: str = ""
    target: str = "docker"
    reference: str | None = None
    created: int | None = None
    store: Store | None = None  # the local store FROM names are looked up in (default: the user's)
    registry_client: Callable[[str], RegistryClient] | None = None  # makes a FROM registry's client (tests inject)
    base: Base | None = None
    from_span: Span | None = None
    weights: list[Planned] = field(default_factory=list)
    licenses: list[Planned] = field(default_factory=list)
    model_files: list[Planned] = field(default_factory=list)
    folder_templates: list[Planned] = field(default_factory=list)
    folder_spans: list[tuple[Span, str]] = field(default_factory=list)  # each WEIGHTS folder: its word, its path
    excludes: list[Exclusion] = field(default_factory=list)
    chat_template: Planned | None = None
    mmproj: Planned | None = None
    config: dict[str, object] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    derived: dict[str, object] = field(default_factory=dict)
    facts: ModelFacts | None = None
    config_spans: dict[str, Span] = field(default_factory=dict)
    embedded_template: str | None = None  # the weights file carrying tokenizer.chat_template
    names: tuple[str, ...] = ()  # what the weights call the model (general.name, finetune, basename)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def planned(self, file: ContextFile, role: Role, span: Span, keyword: str, layer_path: str | None = None,
                via: str = "path") -> Planned:
        return Planned(file, role, span, keyword, layer_path or file.rel.rsplit("/", 1)[-1], via)
