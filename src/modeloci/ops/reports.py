"""The JSON documents of push, ``build --json`` and ``convert --json`` (pydantic models), apart from the work:
a local build prints its JSON without loading the registry client (httpx), and a build or convert that prints
none loads no pydantic."""

from __future__ import annotations

from pydantic import BaseModel, Field

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


class ConvertReport(BuildReport):
    """``convert --json`` (docs/json/convert.schema.json): the build's JSON, the formats and the warnings."""

    from_: str = Field(serialization_alias="from")
    to: str
    warnings: list[str]
