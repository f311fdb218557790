"""What a build says of itself: ``build --sign``, ``--provenance`` and ``--sbom``, made in the build's own pass.

The builder calls one ``referrers`` callback once the model's manifest is
known and before it commits (:data:`modeloci.builder.ReferrersOf`); this module
makes that callback from the options, so the signature, the SLSA provenance
and the CycloneDX BOM are written beside the model in the same pass, into an
archive, a layout, the store or a registry, with no second copy of anything.
Provenance is signed with the same key when one is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modeloci.attest import provenance as slsa
from modeloci.attest import sbom as cyclonedx
from modeloci.attest.bundle import Signer
from modeloci.builder import BuildResult, ReferrersOf
from modeloci.compiler.model import BuildPlan
from modeloci.oci.manifest import Descriptor
from modeloci.oci.referrers import Referrer
from modeloci.ops.sign import build_signature, model_name


def build_referrers(plan: BuildPlan, *, modelfile: Path, build_args: Mapping[str, str] | None = None,
                    signer: Signer | None = None, provenance: bool = False,
                    sbom: bool = False) -> ReferrersOf | None:
    """The callback writing what was asked for (None when nothing was): the signature first, then the provenance
    (signed when ``signer`` is given), then the bill of materials."""
    if signer is None and not provenance and not sbom:
        return None
    signature = build_signature(signer, name=model_name(plan.reference)) if signer is not None else None

    def make(subject: Descriptor, result: BuildResult) -> list[Referrer]:
        made = list(signature(subject, result)) if signature is not None else []
        if provenance:
            statement = slsa.statement(plan, result, modelfile=modelfile, build_args=build_args)
            made.append(slsa.referrer(statement, subject, signer))
        if sbom:
            made.append(cyclonedx.referrer(cyclonedx.bom(plan, result), subject))
        return made

    return make
