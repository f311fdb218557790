"""``sign``: a model's signature in the OpenSSF Model Signing format, attached to it; and checking its signatures.

Signing reads the model's manifest, never a layer: each raw layer's digest is
the SHA-256 of one file (:mod:`modeloci.attest.oms`). The signature is
attached as a referrer wherever the model lies (an archive, a layout folder,
the store), through :func:`modeloci.sources.referrers.attach`; the same model
signed twice with the same key gives the same referrer, attached once.

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
from modeloci.findings import Problem
from modeloci.formats.artifact import Artifact, read_artifact
from modeloci.sources import LayoutRef, Source, open_source
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
    signature (informative; OMS verifiers do not check it): by default its repository's last part, or the file's."""
    artifact = _artifact(source)
    shown = name or model_name(source, artifact)
    referrer = oms.sign(artifact.manifest, artifact.layers, signer, name=shown)
    attach(source, [referrer])
    return SignReport(source=str(source), manifest_digest=str(artifact.manifest.digest),
                      signature_digest=str(referrer.digest), name=shown, files=len(artifact.layers))


def model_name(source: Source, artifact: Artifact) -> str:
    """What a signature calls the model: the last part of its repository (``tiny-llama`` of
    ``registry/team/tiny-llama:f32``), else the archive's or folder's name without its extension."""
    text = artifact.ref_name or (source.name if isinstance(source, LayoutRef) else None)
    if text is None and isinstance(source, Path):
        return source.resolve().stem or "model"
    last = (text or str(source)).rsplit("/", 1)[-1].split("@", 1)[0]
    return last.split(":", 1)[0] or "model"


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
