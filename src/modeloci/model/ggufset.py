"""GGUF shard sets: ``<prefix>-%05d-of-%05d.gguf`` names, and what their headers say.

llama.cpp's ``gguf-split`` writes a model as shards numbered from ``00001``,
each carrying ``split.no`` (0-based) and ``split.count``. Naming any shard
stands for the whole set, as in Docker Model Runner; unlike it, we check the
set: every shard must exist, and each header must agree with its name.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from modeloci.model.gguf import GGUFHeader

SHARD = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<total>\d{5})\.gguf$")


@dataclass(frozen=True, slots=True, order=True)
class ShardName:
    folder: str
    prefix: str
    number: int
    total: int

    def sibling(self, number: int) -> str:
        """The relative path of shard ``number`` of this set."""
        name = f"{self.prefix}-{number:05d}-of-{self.total:05d}.gguf"
        return posixpath.join(self.folder, name) if self.folder else name

    @property
    def pattern(self) -> str:
        return self.sibling(0).replace("-00000-of-", "-*-of-")


def shard_name(rel: str) -> ShardName | None:
    """The shard a context-relative path names, if it follows the shard pattern."""
    folder, _, name = rel.rpartition("/")
    match = SHARD.match(name)
    if not match:
        return None
    return ShardName(folder, match["prefix"], int(match["no"]), int(match["total"]))


def set_members(shard: ShardName) -> list[str]:
    """Every path of the set ``shard`` belongs to, in shard order."""
    return [shard.sibling(n) for n in range(1, shard.total + 1)]


def split_problem(rel: str, header: GGUFHeader) -> str | None:
    """Why ``header``'s split metadata contradicts the file's name, or None if it does not."""
    count, number = header.get("split.count"), header.get("split.no")
    shard = shard_name(rel)
    if shard is None:
        if isinstance(count, int) and count > 1:
            return (f"its header says it is shard {_no(number)} of {count} (split.count), "
                    "but its name is not a shard name")
        return None
    if shard.number < 1 or shard.number > shard.total:
        return f"its name says shard {shard.number} of {shard.total}, which cannot be"
    if isinstance(count, int) and count != shard.total:
        return f"its name says {shard.total} shards but its header says {count} (split.count)"
    if isinstance(number, int) and number != shard.number - 1:
        return f"its name says shard {shard.number} but its header says shard {number + 1} (split.no {number})"
    return None


def _no(number: object) -> str:
    return str(number + 1) if isinstance(number, int) else "?"
