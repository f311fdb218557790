"""The one table of Modelfile diagnostic codes, and the wording helpers their factories share.

Each member of :class:`Code` is a code (its name, ``MF003``) with its one-line
meaning (its value); docs/modelfile.md has a ``### MF003 — <meaning>`` section
for each, and a test keeps the two the same. A code is written here once:
the factories in the stage modules (:mod:`.syntax`, :mod:`.directives`,
:mod:`.paths`, :mod:`.model`, :mod:`.lint`) make their diagnostics by calling
its member, ``Code.MF003(summary, file, span, label=..., hint=...)``, which
fills in the code and the severity. A meaning that starts with ``warning:`` or
``lint warning:`` makes the code a warning; every other code is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum, unique

from modeloci.diagnostics import Diagnostic, Severity, Span, did_you_mean

_WARNING = ("warning:", "lint warning:")


@unique
class Code(Enum):
    """Every diagnostic code, with its one-line meaning."""

    _value_: str

    MF001 = "a double-quoted string is not closed on its line"
    MF002 = "an escape other than \\\", \\\\ or \\$ inside double quotes"
    MF003 = "a line starts with a word that is not a directive"
    MF004 = "a `$` that does not start a `${NAME}` reference"
    MF005 = "a backslash outside double quotes that does not end the line"
    MF006 = "a line starts with something that cannot be a directive (a quote, `=`, ...)"
    MF007 = "the last line ends with a `\\` continuation"
    MF008 = "the Modelfile is not UTF-8 text"
    MF009 = "a control character in the Modelfile"
    MF010 = "a directive keyword run into its first argument"
    MF011 = "a character the grammar does not allow here"
    MF012 = "the Modelfile is larger than 1 MiB"
    MF013 = "a Modelfile of more than 20,000 words, quotes, `=` signs and lines"
    MF020 = "a directive without the arguments it needs"
    MF021 = "a directive with more arguments than it takes"
    MF022 = "a directive that may appear once appears again"
    MF023 = "no FROM directive"
    MF024 = "a directive other than ARG before FROM"
    MF025 = "an argument that must be `key=value` has no `=`"
    MF026 = "`key=value` with an empty key"
    MF027 = "a `${NAME}` reference where only literal text is allowed"
    MF028 = "a CONFIG key that does not exist"
    MF029 = "the same key set twice"
    MF030 = "an ARG name that is not an identifier"
    MF031 = "a LABEL key reserved for the OCI index"
    MF040 = "a `${NAME}` reference to an ARG that is not declared before it"
    MF041 = "a `${NAME}` reference to an ARG with no default and no --build-arg"
    MF042 = "a --build-arg that no ARG declares"
    MF043 = "a CONFIG value of the wrong type or out of range"
    MF044 = "an empty path"
    MF045 = "an absolute path"
    MF046 = "a path that leaves the build context through `..`"
    MF047 = "a path that leaves the build context through a symlink"
    MF048 = "a file that does not exist"
    MF049 = "a glob that matches no file"
    MF050 = "a path that names a directory"
    MF051 = "a path that names something other than a regular file"
    MF052 = "a WEIGHTS file of a kind modeloci does not package"
    MF053 = "WEIGHTS files of different formats"
    MF054 = "one file given to two directives"
    MF055 = "two files that would get the same path in the artifact"
    MF056 = "a model with no weights"
    MF057 = "a FROM base that is not a readable model archive"
    MF059 = "a WEIGHTS folder with no weights files in it"
    MF060 = "a GGUF file whose header cannot be read"
    MF061 = "a GGUF shard set with a shard missing"
    MF062 = "a GGUF shard whose split.no or split.count disagrees with its name"
    MF063 = "a safetensors file whose header cannot be read"
    MF064 = "a safetensors shard set or index that does not match the files"
    MF065 = "an MMPROJ file that is not a GGUF projector"
    MF066 = "a chat template with a syntax error"
    MF067 = "a chat template that fails to render a standard conversation"
    MF068 = "a chat template that is not UTF-8 text"
    MF069 = "a config.json that cannot be read"
    MF070 = "a file name an unpacked model cannot hold safely (a backslash, a drive letter)"
    MF071 = "`${NAME}` references that substitute more than 1 MiB of text in all"
    MF072 = "a path or glob longer than 4096 characters"
    MF073 = "a chat template file larger than 1 MiB"
    MF074 = "EXCLUDE leaves out every weights file WEIGHTS takes"
    MF076 = "FROM names a weights file or a model folder, not a model"
    MF077 = "a directive of Ollama's or modctl's Modelfile"
    MF078 = "CONFIG given a file, as modctl's CONFIG takes"
    MF100 = "warning: new WEIGHTS drop config fields the base derived from its weights"
    MF101 = "warning: a chat template refuses or fails an optional conversation (a system message, tools)"
    MF102 = "warning: CHAT_TEMPLATE differs from the template embedded in the weights"
    MF103 = "warning: CHAT_TEMPLATE replaces the chat template of a WEIGHTS folder"
    MF104 = "warning: a context size (CONFIG, or a Docker base's) in a ModelPack build, which has no field for it"
    MF105 = "warning: a projector or chat template whose role ModelPack can only tell from its file name"
    MF110 = "lint warning: the model ships no license file"
    MF111 = "lint warning: a chat model with no chat template"
    MF112 = "lint warning: a registry FROM pinned by tag, not by digest"
    MF113 = "lint warning: CONFIG context_size larger than the model was trained for"
    MF116 = "warning: an EXCLUDE pattern that leaves nothing out"
    MF117 = "lint warning: WEIGHTS takes only the weights of a folder holding files runtimes need"
    MF118 = "warning: a WEIGHTS folder holding weights of another format, packaged as plain files"
    MF119 = "warning: symlinks and other non-regular files a WEIGHTS folder leaves out"

    @property
    def meaning(self) -> str:
        return self._value_

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self._value_.startswith(_WARNING) else Severity.ERROR

    def __call__(self, summary: str, file: str | None, span: Span | None, *, label: str | None = None,
                 detail: str | None = None, hint: str | None = None) -> Diagnostic:
        """A diagnostic of this code, at ``span`` of ``file`` (None: about the whole file)."""
        return Diagnostic(self.name, summary, file, span, label=label, detail=detail, hint=hint,
                          severity=self.severity)


CODES: dict[str, str] = {code.name: code.meaning for code in Code}


def suggest(word: str, known: Sequence[str]) -> str | None:
    """``did you mean `X`?`` for a known word within edit distance 2 of ``word``, else None."""
    match = did_you_mean(word, known)
    return f"did you mean `{match}`?" if match else None


def listed(names: Sequence[str]) -> str:
    return ", ".join(names)


def first_few(items: Sequence[str], limit: int) -> str:
    """The first ``limit`` items, and how many more there are: ``a, b and 3 more``."""
    return listed(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
