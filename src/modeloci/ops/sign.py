"""``sign``: a model's signature in the OpenSSF Model Signing format, attached to it; and checking its signatures.

Signing reads the model's manifest, never a layer: each raw layer's digest is
the SHA-256 of one file (:mod:`modeloci.attest.oms`). The signature is
attached as a referrer wherever the model lies (an archive, a layout folder,
the store), through :func:`modeloci.sources.referrers.attach`; the same model
signed twice with the same key gives the same referrer, attached once.

``build --sign`` makes the same referrer in the build's own pass
(:func:`build_signature`, the builder's ``referrers`` callback).

``verify --key`` (or ``--cert-chain``) asks :func:`check_signatures`: a model
passes when one of its OMS signatures is by a trusted key and names exactly
its files with their layers' digests; otherwise every signature's findings
are given, so that a changed file, a wrong key or a forged signature is named.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from modeloci.attest import oms
from modeloci.attest.bundle import Signer
from modeloci.attest.trust import Trust
from modeloci.builder import BuildResult, ReferrersOf
from modeloci.findings import Problem
from modeloci.formats.artifact import Artifact, Format, model_layer, read_artifact
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MODELPACK_CONFIGS, MediaType
from modeloci.oci.referrers import Referrer
from modeloci.sources import LayoutRef, RemoteRef, Source, StoredRef, open_source
from modeloci.sources.referrers import attach, referrers_of


class SignReport(BaseModel):
    """A model signed: which, the signature's referrer, and how many files it names."""

    source: str
    manifest_digest: str
    signature_digest: str
    name: str
    files: int


def sign(source: Source, signer: Signer, *, name: str | None = None) -> SignReport:
    """Sign the model ``source`` names and attach the signature to it. ``name`` is the model's name in the
    signature (informative; OMS verifiers do not check it), by default :func:`model_name`'s."""
    artifact = _artifact(source)
    shown = name or model_name(_reference(source, artifact), _path(source))
    manifest = artifact.manifest
    subject = Descriptor(str(MediaType.OCI_MANIFEST), manifest.digest, len(manifest.raw))
    referrer = oms.sign(subject, artifact.layers, signer, name=shown)
    attach(source, [referrer])
    return SignReport(source=str(source), manifest_digest=str(artifact.manifest.digest),
                      signature_digest=str(referrer.digest), name=shown, files=len(artifact.layers))


def build_signature(signer: Signer, *, name: str) -> ReferrersOf:
    """The builder's ``referrers`` callback of ``build --sign``: the model's signature, made as soon as its manifest
    is known, the referrer :func:`sign` would attach to the built model (given the same ``name``)."""

    def make(subject: Descriptor, result: BuildResult) -> list[Referrer]:
        fmt: Format = "modelpack" if result.config.media_type in MODELPACK_CONFIGS else "docker"
        layers = [model_layer(d, fmt, n) for n, d in enumerate(result.layers, 1)]
        return [oms.sign(subject, layers, signer, name=name)]

    return make


def model_name(reference: str | None, path: Path | None = None) -> str:
    """What a signature calls a model: the last part of its repository (``tiny-llama`` of
    ``registry/team/tiny-llama:f32``), else the name of its archive or folder without an extension, else ``model``."""
    last = (reference or "").rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    if last and not (reference or "").startswith("sha256:"):
        return last
    stem = path.resolve().stem if path is not None else ""
    return stem or "model"


def _reference(source: Source, artifact: Artifact) -> str | None:
    if isinstance(source, (StoredRef, RemoteRef)):
        return artifact.ref_name or str(source)
    return artifact.ref_name or (source.name if isinstance(source, LayoutRef) else None)


def _path(source: Source) -> Path | None:
    return source if isinstance(source, Path) else source.path if isinstance(source, LayoutRef) else None


def check_signatures(source: Source, trust: Trust) -> list[Problem]:
    """Why the model ``source`` names is not vouched for by a signature ``trust`` trusts; none when it is (but for
    the warnings of the signature that vouches for it)."""
    artifact = _artifact(source)
    found = oms.bundles(referrers_of(source))
    if not found:
        return [Problem(message=f"no signature: `{source}` has no OMS signature (a referrer of type "
                                f"`{oms.ARTIFACT_TYPE}`)")]
    problems: list[Problem] = []
    for referrer, bundle in found:
        checked = oms.check(bundle, artifact.layers, trust)
        if not any(p.severity == "error" for p in checked):
            return checked
        where = f"signature {referrer.digest}"
        problems += [Problem(severity=p.severity, message=f"{where}: {p.message}", where=where) for p in checked]
    return problems


def _artifact(source: Source) -> Artifact:
    with open_source(source) as layout:
        return read_artifact(layout, where=f"`{source}`")
