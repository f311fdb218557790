"""Pydantic models of the JSON the CLI prints with ``--json``: tests validate output against them.

``extra="forbid"`` everywhere, so a field added, renamed or dropped in the
output fails the tests until the model here (and the docs) say so; ``strict=True``,
so a number written as a string (or the reverse) fails too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, RootModel, StringConstraints, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DiagnosticJson(Strict):
    code: str
    severity: Literal["error", "warning"]
    summary: str
    file: str | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    label: str | None
    detail: str | None
    hint: str | None


class FailureJson(Strict):
    """What every command prints with --json when it fails (a bad Modelfile: with its diagnostics, else null)."""

    ok: Literal[False]
    error: str
    hint: str | None
    exit_code: int
    diagnostics: list[DiagnosticJson] | None


class LintFile(Strict):
    path: str
    ok: bool
    diagnostics: list[DiagnosticJson]


class LintOutput(Strict):
    files: list[LintFile]
    errors: int
    warnings: int


class FmtFile(Strict):
    path: str
    changed: bool
    formatted: bool
    diagnostics: list[DiagnosticJson]


class FmtOutput(Strict):
    files: list[FmtFile]
    changed: int
    failed: int


class InitOutput(Strict):
    folder: str
    weights: str
    mmproj: str | None
    chat_template: str | None
    licenses: list[str]
    alternatives: list[str]
    left_out: list[str]
    modelfile: str | None
    text: str


# ---------------------------------------------------------------------------------------------------------------
# Every other command. Written from the documented behaviour and the real output, not imported from modeloci:
# an independent contract. Digests are ``sha256:`` + 64 hex, sizes and counts are non-negative, enums are Literal.
# ---------------------------------------------------------------------------------------------------------------

Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Size = Annotated[int, Field(ge=0)]
MediaType = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")]
Rfc3339 = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")]
# A stored name: NAME:TAG (the tag always written out), NAME possibly starting with a registry HOST:PORT/.
Reference = Annotated[str, StringConstraints(
    pattern=r"^[a-z0-9][^\s:@]*(:\d+/[^\s:@]+)?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
RemoteReference = Annotated[str, StringConstraints(
    pattern=r"^[a-z0-9][^\s@/]*/[^\s@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")]
Format = Literal["docker", "modelpack", "modelcar"]
Role = Literal["weights", "model_file", "license", "chat_template", "mmproj", "other"]
WeightFormat = Literal["gguf", "safetensors", "dduf"]
StringMap = dict[str, str]


class Sparse(Strict):
    """An object whose optional fields are left out when unset, never written as ``null``."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and (nulls := sorted(k for k, v in data.items() if v is None)):
            raise ValueError(f"fields are null instead of absent: {nulls}")
        return data


class DockerConfigJson(Sparse):
    """Docker Model Runner's config fields (a plan's ``config``; ``inspect`` of model files)."""

    format: WeightFormat | None = None
    quantization: str | None = None
    parameters: str | None = None
    architecture: str | None = None
    size: str | None = None
    gguf: StringMap | None = None
    safetensors: StringMap | None = None
    diffusers: StringMap | None = None
    context_size: PositiveInt | None = None


class ModelPackDescriptorJson(Sparse):
    createdAt: Rfc3339 | None = None
    authors: list[str] | None = None
    family: str | None = None
    name: str | None = None
    docURL: str | None = None
    sourceURL: str | None = None
    datasetsURL: list[str] | None = None
    version: str | None = None
    revision: str | None = None
    vendor: str | None = None
    licenses: list[str] | None = None
    title: str | None = None
    description: str | None = None


class ModelPackFieldsJson(Sparse):
    architecture: str | None = None
    format: WeightFormat | None = None
    paramSize: Annotated[str, StringConstraints(pattern=r"^\d+(\.\d)?[QTBMK]$")] | None = None
    precision: str | None = None
    quantization: str | None = None
    capabilities: dict[str, Any] | None = None


class ModelPackConfigJson(Strict):
    descriptor: ModelPackDescriptorJson
    config: ModelPackFieldsJson


class Open(BaseModel):
    """A document modeloci carries from a FROM base's image config, which may hold keys the image spec added later
    or Docker's own (``container_config``, ``Healthcheck``...): the keys named here are typed, others kept."""

    model_config = ConfigDict(extra="allow", strict=True)


class ImageRunJson(Open):
    """An image config's ``config``: how a runtime runs the image (a base's), and its labels (the model's facts,
    under the ModelPack annotation names where they exist, and the Modelfile's LABELs)."""

    Labels: StringMap
    User: str | None = None
    Env: list[str] | None = None
    Entrypoint: list[str] | None = None
    Cmd: list[str] | None = None
    WorkingDir: str | None = None
    ExposedPorts: dict[str, dict[str, Any]] | None = None
    Volumes: dict[str, dict[str, Any]] | None = None
    StopSignal: str | None = None


class ImageHistoryJson(Open):
    created: Rfc3339 | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ImageConfigJson(Open):
    """A modelcar's image config before its layers' ``rootfs`` (a plan's ``config``): a model-only image's
    (linux/amd64, no entrypoint) or its FROM base image's, with the model's facts in ``config.Labels``; the history
    of the base's layers kept (the builder adds one entry per model layer)."""

    architecture: str
    os: str
    variant: str | None = None
    created: Rfc3339 | None = None
    author: str | None = None
    config: ImageRunJson
    history: list[ImageHistoryJson] | None = None


class FileSourceJson(Strict):
    kind: Literal["file"]
    path: str


class InTarJson(Strict):
    """A file read out of a modelcar base's tar layer: where its bytes lie in the layer's blob, and its digest."""

    blob_size: Size
    offset: Size
    digest: Digest


class BaseSourceJson(Sparse):
    kind: Literal["base"]
    digest: Digest
    within: InTarJson | None = None  # left out unless the layer is a file out of a modelcar base's tar layer


class PlanLayerJson(Strict):
    """A layer of the plan (``filepath`` empty for a layer of the container image under a modelcar's model)."""

    role: Role
    media_type: MediaType
    filepath: str
    size: Size
    source: Annotated[FileSourceJson | BaseSourceJson, Field(discriminator="kind")]
    annotations: StringMap
    line: PositiveInt | None
    file_size: Size | None = None  # a modelcar's tar layer made here: the size of the file it wraps (size: the tar's)
    diff_id: Digest | None = None  # a compressed layer carried from a container image: the digest of its tar

    @model_validator(mode="before")
    @classmethod
    def _left_out_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and (nulls := sorted(k for k in ("file_size", "diff_id")
                                                       if k in data and data[k] is None)):
            raise ValueError(f"fields are null instead of absent: {nulls}")
        return data


class PlanBaseJson(Strict):
    path: str
    format: Format
    manifest_digest: Digest
    config_media_type: MediaType
    ref_name: str | None


class PlanOutput(Strict):
    modelfile: str
    format: Format
    config_media_type: MediaType
    base: PlanBaseJson | None
    layers: list[PlanLayerJson]
    config: DockerConfigJson | ModelPackConfigJson | ImageConfigJson
    labels: StringMap
    created: Rfc3339 | None
    mtime: Rfc3339
    reference: Reference | None
    notes: list[str]

    @model_validator(mode="after")
    def _config_of_format(self) -> PlanOutput:
        wanted = {"modelpack": ModelPackConfigJson, "modelcar": ImageConfigJson}.get(self.format, DockerConfigJson)
        if not isinstance(self.config, wanted):
            raise ValueError(f"a {self.format} plan needs a {wanted.__name__} config")
        return self


class DescriptorJson(Strict):
    mediaType: MediaType
    digest: Digest
    size: Size


class BuiltLayerJson(DescriptorJson):
    path: str | None


class BuiltJson(Strict):
    """A model written: to an archive (``size``: its bytes), a layout, or the store (``size`` null, ``output`` the
    store); or only pushed (``output`` and ``size`` null)."""

    digest: Digest
    size: Size | None
    output: str | None
    reference: Reference | None
    manifest: DescriptorJson
    config: DescriptorJson
    layers: list[BuiltLayerJson]
    up_to_date: bool  # the output already held this model, untouched since modeloci wrote it: nothing written


class PushOutput(Strict):
    """``push``, and ``build``'s ``push``."""

    reference: RemoteReference
    digest: Digest
    uploaded: list[Digest]
    skipped: list[Digest]
    mounted: list[Digest]


class BuildOutput(BuiltJson):
    """``build``, whatever its outputs: ``push`` is null without --push."""

    push: PushOutput | None

    @model_validator(mode="after")
    def _pushed_what_was_built(self) -> BuildOutput:
        if self.push is not None and self.push.digest != self.digest:
            raise ValueError("the push's digest is not the model's")
        return self


class ConvertOutput(BuiltJson):
    from_: Format = Field(alias="from")
    to: Format
    warnings: list[str]


class ArtifactLayerJson(Strict):
    media_type: MediaType
    role: Role
    path: str | None
    size: Size
    digest: Digest


class ArtifactConfigJson(Strict):
    """Always every key; null where the format or model has no value."""

    format: WeightFormat | None
    context_size: PositiveInt | None
    size: str | None
    architecture: str | None
    parameters: str | None
    quantization: str | None


class ReferrerJson(Strict):
    """An artifact that refers to the model (a signature, provenance, a BOM): its manifest's digest and size."""

    artifact_type: MediaType
    digest: Digest
    size: Size


class InspectArtifactOutput(Strict):
    source: str
    reference: Reference | None
    format: Format
    manifest_digest: Digest
    config_media_type: MediaType
    size: Size
    layers: list[ArtifactLayerJson]
    config: ArtifactConfigJson
    labels: StringMap
    created: Rfc3339 | None
    referrers: list[ReferrerJson]


class ModelFileJson(Strict):
    path: str
    kind: Literal["gguf", "weights", "mmproj", "config", "tokenizer", "chat_template", "license", "other"]
    size: Size


class MetadataJson(Strict):
    key: str
    type: str
    value: str | None


class InspectModelOutput(Strict):
    path: str
    kind: Literal["gguf", "safetensors", "folder"]
    format: Literal["gguf", "safetensors"] | None
    config: DockerConfigJson
    parameter_count: Size
    tensor_count: Size
    gguf_version: PositiveInt | None
    projector: bool
    files: list[ModelFileJson]
    metadata: list[MetadataJson]
    problems: list[ProblemJson]


class ProblemJson(Strict):
    severity: Literal["error", "warning"]
    message: str
    where: str | None = None  # left out when unknown


class VerifyOutput(Strict):
    """``verify PATH`` (format of the artifact, null if unreadable) and ``verify --store`` (format "store")."""

    source: str
    format: Literal["docker", "modelpack", "modelcar", "store"] | None
    manifest_digest: Digest | None
    blobs_checked: Size
    bytes_checked: Size
    problems: list[ProblemJson]
    ok: bool

    @model_validator(mode="after")
    def _ok_means_no_error(self) -> VerifyOutput:
        if self.ok != (not any(p.severity == "error" for p in self.problems)):
            raise ValueError("`ok` disagrees with the problems")
        return self


class DifferenceJson(Strict):
    """One way a rebuild differs from its TARGET (values JSON, shortened to 80 characters; null where absent)."""

    part: Literal["base", "layer", "config", "manifest"]
    name: str
    field: str | None
    target: Annotated[str, StringConstraints(max_length=80)] | None
    rebuilt: Annotated[str, StringConstraints(max_length=80)] | None
    message: str


class RebuildOutput(Strict):
    """``verify --rebuild``: TARGET's manifest digest, the rebuild's, how the rebuild was made (TARGET's creation
    time and name, the build arguments, the base's digest, the provenance followed, what was hashed) and how the
    two differ (at most 100 differences: the base, then layers, then config fields, then the manifest's own
    fields)."""

    source: str
    modelfile: str
    format: Format
    reproduced: bool
    digest: Digest
    rebuilt: Digest
    created: Rfc3339 | None
    reference: str | None
    build_args: StringMap
    base: Digest | None
    provenance: Digest | None  # the provenance referrer whose build arguments and base the rebuild followed
    files_hashed: Size
    bytes_hashed: Size
    differences: Annotated[list[DifferenceJson], Field(max_length=100)]

    @model_validator(mode="after")
    def _reproduced_means_the_same_digest(self) -> RebuildOutput:
        if self.reproduced != (self.digest == self.rebuilt) or self.reproduced == bool(self.differences):
            raise ValueError("`reproduced` disagrees with the digests or the differences")
        return self


class VerifyAnyOutput(RootModel[VerifyOutput | RebuildOutput]):
    """``verify``: of a model or the store, or with ``--rebuild`` (``reproduced``, ``differences``...)."""


class UnpackedFileJson(Strict):
    path: str
    digest: Digest
    size: Size


class UnpackOutput(Strict):
    source: str
    output: str
    layout: Literal["bundle", "files"]
    format: Format
    files: list[UnpackedFileJson]


class SignOutput(Strict):
    source: str
    manifest_digest: Digest
    signature_digest: Digest  # the signature's referrer (its manifest)
    name: str  # the model's name in the signature (informative)
    files: Size


class StoredModelJson(Strict):
    reference: Reference
    digest: Digest
    format: Format | None
    size: Size
    architecture: str | None
    parameters: str | None
    quantization: str | None
    absent: list[str]  # a model pulled in part (pull --include): the paths of the layers the store lacks


class LsOutput(RootModel[list[StoredModelJson]]):
    pass


class TagOutput(Strict):
    source: Reference
    reference: Reference
    digest: Digest


class RmOutput(Strict):
    removed: list[Reference]
    missing: list[Reference]


class PruneOutput(Strict):
    files: Size
    bytes: Size


class SaveOutput(Strict):
    reference: Reference
    output: str
    size: Size


class LoadOutput(Strict):
    reference: Reference
    digest: Digest
    format: Format
    moved_from: Digest | None  # the model the name pointed at before, when the load moved it from another


class PullOutput(Strict):
    reference: RemoteReference
    digest: Digest
    output: str
    downloaded: list[Digest]
    reused: list[Digest]
    referrers: list[Digest]  # the manifests of the referrers pulled with it (none with --no-referrers)
    absent: list[str]  # the paths of the layers a partial pull (--include, --exclude, --role) left in the registry


class LoginOutput(Strict):
    registry: str
    username: str
    saved_in: str


class LogoutOutput(Strict):
    registry: str
    removed: bool


class InspectOutput(RootModel[InspectArtifactOutput | InspectModelOutput]):
    """``inspect``: of a model archive, layout or stored model (``manifest_digest``...), or of model files (``kind``:
    gguf, safetensors or folder)."""


# ---------------------------------------------------------------------------------------------------------------
# Each command's one document: docs/make_json_schemas.py writes these as docs/json/COMMAND.schema.json, and
# tests/docs/test_json_schemas.py fails while a file there is stale or a command has no schema.
# ---------------------------------------------------------------------------------------------------------------

COMMAND_SCHEMAS: dict[str, type[BaseModel]] = {
    "plan": PlanOutput,
    "build": BuildOutput,
    "inspect": InspectOutput,
    "verify": VerifyAnyOutput,
    "unpack": UnpackOutput,
    "convert": ConvertOutput,
    "sign": SignOutput,
    "ls": LsOutput,
    "tag": TagOutput,
    "rm": RmOutput,
    "prune": PruneOutput,
    "save": SaveOutput,
    "load": LoadOutput,
    "push": PushOutput,
    "pull": PullOutput,
    "login": LoginOutput,
    "logout": LogoutOutput,
    "fmt": FmtOutput,
    "lint": LintOutput,
    "init": InitOutput,
}
FAILURE_SCHEMA = ("failure", FailureJson)  # what any of them prints instead when it fails
