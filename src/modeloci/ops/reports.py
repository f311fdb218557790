"""What a push answers, and ``build --json``'s document, apart from :mod:`.remote`: a local build prints its
JSON without loading the registry client (httpx)."""

from __future__ import annotations

from pydantic import BaseModel

from modeloci.builder.report import BuildReport


class PushResult(BaseModel):
    """A model pushed: to where, its manifest's digest, and each blob's fate (sent, already there, mounted)."""

    reference: str
    digest: str
    uploaded: list[str]
    skipped: list[str]
    mounted: list[str]


class BuildPushReport(BuildReport):
    """``build --json`` (docs/json/build.schema.json): the model built, and its push (None without ``--push``)."""

    push: PushResult | None
