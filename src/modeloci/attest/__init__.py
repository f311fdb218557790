"""ATTESTATIONS: what a build proves about a model (signatures, provenance, a bill of materials), as OCI referrers."""
