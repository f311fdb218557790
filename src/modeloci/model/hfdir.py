"""Hugging Face model folders: which files to package, safetensors shard sets, index files, config.json.

:func:`folder_kind` is how ``WEIGHTS <folder>`` packages a folder: Docker
Model Runner's directory rules (``pkg/distribution/files/classify.go``, used by
``builder/from_directory.go``), so that every regular, non-hidden file is a
layer, and only weights, chat templates and licenses get a media type of their
own. :func:`is_lfs_pointer` tells a Git LFS pointer from the file it stands for.

:func:`classify` is the older, narrower choice (weights, configs, tokenizer,
chat templates, licenses; nothing else) that ``modeloci init`` and
``modeloci inspect`` still use to describe a folder.

:func:`check_safetensors_shards` and :func:`check_index` check that a sharded
model is whole (``model-00001-of-00003.safetensors``…, plus
``model.safetensors.index.json``), and :func:`read_hf_config` reads the few
``config.json`` keys the artifact config needs. Checks return every
:class:`ShardProblem` they find, so the caller can report them all at once.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from modeloci.jsondoc import InvalidJSON, check_json
from modeloci.model.safetensors import SafetensorsError

MAX_JSON_SIZE = 100 * 1024 * 1024
INT32_MAX = 2147483647


class FileKind(StrEnum):
    WEIGHTS = "weights"
    CONFIG = "config"
    TOKENIZER = "tokenizer"
    CHAT_TEMPLATE = "chat_template"
    LICENSE = "license"


_CONFIG_NAMES = frozenset({
    "config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json",
})
_TOKENIZER_NAMES = frozenset({
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "tokenizer.model", "vocab.json", "vocab.txt", "merges.txt", "spiece.model",
})
_LICENSE_PREFIXES = ("license", "licence", "copying", "notice")
# Meta's repositories keep the original-format checkpoint (consolidated.*.pth,
# params.json, its own tokenizer.model) here, duplicating the HF files.
_ORIGINAL_FOLDER = "original"


def classify(relpath: str) -> FileKind | None:
    """What the file at ``relpath`` (``/``-separated, relative to the model folder) is, or None to leave it out.

    Names are compared case-insensitively. Hidden entries (any component
    starting with ``.``) and everything under a top-level ``original/`` folder
    are left out.
    """
    parts = PurePosixPath(relpath).parts
    if not parts or any(p.startswith(".") for p in parts) or parts[0].lower() == _ORIGINAL_FOLDER:
        return None
    name = parts[-1].lower()
    if name.endswith(".safetensors"):
        return FileKind.WEIGHTS
    if name in _CONFIG_NAMES or name.endswith(".safetensors.index.json"):
        return FileKind.CONFIG
    if name in _TOKENIZER_NAMES or name.endswith(".tiktoken"):
        return FileKind.TOKENIZER
    if name.endswith(".jinja") or "chat_template" in name:
        return FileKind.CHAT_TEMPLATE
    if name.startswith(_LICENSE_PREFIXES):
        return FileKind.LICENSE
    return None


class FolderKind(StrEnum):
    """What Docker Model Runner makes of a file in a model folder (its media type's role)."""

    WEIGHTS = "weights"
    CHAT_TEMPLATE = "chat_template"
    LICENSE = "license"
    MODEL_FILE = "model_file"


WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".dduf")
LICENSE_WORDS = ("license", "licence", "copying", "notice")


def folder_kind(relpath: str) -> FolderKind:
    """Docker Model Runner's kind for the file at ``relpath``, from its base name alone, case-insensitively.

    The first rule that holds wins: a name ending in ``.gguf``, ``.safetensors``
    or ``.dduf`` is weights; one ending in ``.jinja`` or containing
    ``chat_template`` is a chat template; one containing ``license``,
    ``licence``, ``copying`` or ``notice`` is a license; anything else
    (configs, tokenizers, READMEs, code) is a model file. Which files to take
    at all (hidden ones and symlinks are not) is the walker's business.
    """
    name = posixpath.basename(relpath).lower()
    if name.endswith(WEIGHT_SUFFIXES):
        return FolderKind.WEIGHTS
    if name.endswith(".jinja") or "chat_template" in name:
        return FolderKind.CHAT_TEMPLATE
    if any(word in name for word in LICENSE_WORDS):
        return FolderKind.LICENSE
    return FolderKind.MODEL_FILE


def is_runtime_file(relpath: str) -> bool:
    """Whether a runtime loading safetensors weights (vLLM, transformers) reads this file beside them:
    the model's configs, its tokenizer and the shard index."""
    name = posixpath.basename(relpath).lower()
    return (name in _CONFIG_NAMES or name in _TOKENIZER_NAMES or name.endswith((".safetensors.index.json", ".tiktoken"))
            or name in ("chat_template.jinja", "chat_template.json"))


# A pointer file is at most 1024 bytes and starts with this line (git-lfs docs/spec.md).
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"
LFS_POINTER_MAX = 1024


def is_lfs_pointer(path: Path, size: int) -> bool:
    """Whether the file at ``path`` (``size`` bytes) is a Git LFS pointer; reads at most 45 bytes, only
    of files small enough to be one. An unreadable file is not a pointer (its reader says why)."""
    if size > LFS_POINTER_MAX or size < len(LFS_POINTER_PREFIX):
        return False
    try:
        with path.open("rb") as f:
            return f.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX
    except OSError:
        return False


SHARD = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<total>\d{5})\.safetensors$")


@dataclass(frozen=True, slots=True)
class ShardProblem:
    """One reason a set of safetensors files is not a whole model; file names are exact."""

    message: str
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()


def check_safetensors_shards(names: Sequence[str]) -> list[ShardProblem]:
    """Every problem with the shard sets among ``names`` (relative paths); names that are not shards are ignored.

    Shards are grouped by folder, prefix and total; each group must hold every
    shard from 1 to its total, and no number outside that range.
    """
    groups: dict[tuple[str, str, int], set[int]] = {}
    problems: list[ShardProblem] = []
    for rel in sorted(set(names)):
        folder, _, name = rel.rpartition("/")
        match = SHARD.match(name)
        if not match:
            continue
        number, total = int(match["no"]), int(match["total"])
        if not 1 <= number <= total:
            problems.append(ShardProblem(f"shard number out of range: `{rel}` is shard {number}, "
                                         f"but a set of {total} is numbered 1 to {total}", extra=(rel,)))
            continue
        groups.setdefault((folder, match["prefix"], total), set()).add(number)
    for (folder, prefix, total), found in sorted(groups.items()):
        missing = tuple(_shard(folder, prefix, n, total) for n in range(1, total + 1) if n not in found)
        if missing:
            pattern = _shard(folder, prefix, 0, total).replace("-00000-of-", "-*-of-")
            problems.append(ShardProblem(f"incomplete shard set: found {len(found)} of {total} shards of "
                                         f"`{pattern}`; missing {_list(missing)}", missing=missing))
    return problems


def _shard(folder: str, prefix: str, number: int, total: int) -> str:
    name = f"{prefix}-{number:05d}-of-{total:05d}.safetensors"
    return posixpath.join(folder, name) if folder else name


def _list(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


@dataclass(frozen=True, slots=True)
class SafetensorsIndex:
    """A ``*.safetensors.index.json``: which shard file holds each tensor."""

    weight_map: dict[str, str]
    metadata: dict[str, object]

    @property
    def files(self) -> tuple[str, ...]:
        """The distinct shard file names, sorted."""
        return tuple(sorted(set(self.weight_map.values())))


def read_safetensors_index(path: Path) -> SafetensorsIndex:
    """Read a safetensors index file; bad JSON or shape raises :class:`SafetensorsError`, OSErrors propagate."""
    doc = _load_json(path, SafetensorsError)
    if not isinstance(doc, dict):
        raise SafetensorsError(f"expected a JSON object, found {_kind(doc)}", 0)
    weight_map = doc.get("weight_map")
    metadata = doc.get("metadata")
    metadata = {} if metadata is None else metadata
    if weight_map is None:
        raise SafetensorsError("`weight_map` is missing")
    if not isinstance(weight_map, dict):
        raise SafetensorsError(f"`weight_map` must be a map of tensor names to file names, not {_kind(weight_map)}")
    bad = [k for k, v in weight_map.items() if not isinstance(v, str) or not v]
    if bad:
        raise SafetensorsError(f"`weight_map` maps `{bad[0]}` to {_kind(weight_map[bad[0]])}, not a file name")
    if not isinstance(metadata, dict):
        raise SafetensorsError(f"`metadata` must be an object, not {_kind(metadata)}")
    return SafetensorsIndex(weight_map, metadata)


def check_index(index: SafetensorsIndex, present: Sequence[str]) -> list[ShardProblem]:
    """Problems between ``index`` and the safetensors files ``present`` in its folder.

    Every file the index names must be present, and every present
    ``.safetensors`` file must be named by the index. Names are compared as
    base names, and problems carry base names.
    """
    listed = {posixpath.basename(f) for f in index.files}
    found = {posixpath.basename(p) for p in present if p.lower().endswith(".safetensors")}
    problems = []
    missing = tuple(sorted(listed - found))
    if missing:
        problems.append(ShardProblem(f"the index names {_count(missing)} that {_are(missing)} missing: "
                                     f"{_list(missing)}", missing=missing))
    extra = tuple(sorted(found - listed))
    if extra:
        problems.append(ShardProblem(f"{_count(extra)} {_are(extra)} not in the index: {_list(extra)}", extra=extra))
    return problems


def _count(names: Sequence[str]) -> str:
    return "1 file" if len(names) == 1 else f"{len(names)} files"


def _are(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


HF_CONTEXT_KEYS = ("max_position_embeddings", "n_ctx", "n_positions", "max_length",
                   "max_sequence_length", "model_max_length")


class HFConfigError(ValueError):
    """A ``config.json`` that is not readable JSON, or not a JSON object."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class HFConfig:
    model_type: str | None
    architectures: tuple[str, ...]
    torch_dtype: str | None
    context_length: int | None


def read_hf_config(path: Path) -> HFConfig:
    """The keys of a Hugging Face ``config.json`` that artifacts use; OSErrors propagate.

    Values of the wrong type read as absent: configs are loosely written, and
    none of these keys is required. ``context_length`` follows Docker Model
    Runner: the first of :data:`HF_CONTEXT_KEYS`, at the top level only, that
    holds an int in 1..2147483647.
    """
    doc = _load_json(path, HFConfigError)
    if not isinstance(doc, dict):
        raise HFConfigError(f"expected a JSON object, found {_kind(doc)}", 0)
    architectures = doc.get("architectures")
    # transformers 4.56 renamed `torch_dtype` to `dtype` in the configs it writes.
    dtype = doc.get("torch_dtype", doc.get("dtype"))
    return HFConfig(
        model_type=_str(doc.get("model_type")),
        architectures=tuple(a for a in architectures if isinstance(a, str)) if isinstance(architectures, list) else (),
        torch_dtype=_str(dtype),
        context_length=next((v for k in HF_CONTEXT_KEYS if _valid_context(v := doc.get(k))), None),
    )


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _valid_context(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT32_MAX


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _load_json(path: Path, error: type[SafetensorsError] | type[HFConfigError]) -> object:
    """The JSON document at ``path``, at most :data:`MAX_JSON_SIZE` bytes; problems raise ``error``.

    The size is checked before reading, so a huge file is never loaded. Like
    GGUF and safetensors errors, messages do not name the file (the caller
    adds it) and carry the byte offset of the problem where it is known.
    """
    with path.open("rb") as f:
        size = f.seek(0, 2)
        if size > MAX_JSON_SIZE:
            raise error(f"the file is {size} bytes; at most {MAX_JSON_SIZE} are allowed", 0)
        f.seek(0)
        raw = f.read()
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not valid UTF-8: {exc.reason}", bom + exc.start) from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
        check_json(doc, "the file", max_depth=sys.getrecursionlimit())  # a "\\udfff" escape is JSON, not Unicode
        return doc
    except InvalidJSON as exc:
        raise error(str(exc).removeprefix("the file "), 0) from None
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg.lower()} (line {exc.lineno}, column {exc.colno})",
                    bom + len(text[: exc.pos].encode("utf-8"))) from None
    except _DuplicateKey as exc:
        raise error(f"the key `{exc.args[0]}` appears twice in one object") from None
    except RecursionError:
        raise error("the JSON nests too deeply") from None
    except ValueError:  # an integer of more than 4300 digits
        raise error("a number has too many digits") from None
