"""``verify``: an archive, layout, stored model or the whole store, checked by :mod:`modeloci.formats.validate`
(the documents) and :mod:`modeloci.formats.blobcheck` (the layers' bytes).

``verify SOURCE`` opens the source without refusing unsafe members (they are
listed among the problems instead), makes every document check, then streams
every layer blob once against its digest. ``verify --store`` does that for
every tagged model and names blobs no tag uses and leftovers of killed runs.

A model pulled in part (``pull --include``) is checked as far as it is there:
its absent layers are named in a warning, not an error, so it verifies (exit
0); a blob missing from any other model is an error.
"""

from __future__ import annotations

from dataclasses import replace

from modeloci.findings import Problem
from modeloci.formats.artifact import filepath_of
from modeloci.formats.blobcheck import check_blobs
from modeloci.formats.layertar import MAX_INFLATE_RATIO
from modeloci.formats.report import VerifyReport
from modeloci.formats.validate import check_documents
from modeloci.oci.layout import Layout
from modeloci.oci.manifest import Manifest
from modeloci.oci.safety import shown_path
from modeloci.sources import Source, StoredRef, open_source
from modeloci.store import Store
from modeloci.store.partial import absent_blobs, entry_of, pull_the_rest
from modeloci.store.reach import reachable

__all__ = ["Problem", "VerifyReport", "verify", "verify_store"]


def verify(path: Source, *, max_inflate_ratio: int = MAX_INFLATE_RATIO) -> VerifyReport:
    """Check the archive, layout or stored model ``path``; ArchiveError only when it cannot be read at all.
    A gzip layer inflating more than ``max_inflate_ratio`` times its size is an error (0: no bound)."""
    report = VerifyReport(source=str(path))
    with open_source(path, strict=False) as layout:
        # The store holds a container image only as a modelcar's base (pulled for `FROM`): checked as one there.
        manifest = check_documents(layout, report, max_inflate_ratio=max_inflate_ratio,
                                   images=isinstance(path, StoredRef))
        if manifest is not None:
            check_blobs(layout, _present(layout, manifest, report), report)
    return report


def _present(layout: Layout, manifest: Manifest, report: VerifyReport) -> Manifest:
    """The manifest with only the layers a model pulled in part holds (a warning names the others: expected, not
    damage); any other model's, whole (a missing blob there is an error)."""
    gone = absent_blobs(layout, manifest.layers)
    if not gone:
        return manifest
    entry = entry_of(layout)
    assert entry is not None  # only a partial stored model has absent blobs
    paths = ", ".join(f"`{shown_path(filepath_of(d) or str(d.digest))}`" for d in gone)
    report.problems.append(Problem(severity="warning", message=(
        f"partial: {len(gone)} of {len(manifest.layers)} layers absent, as pulled in part ({paths}); the others "
        f"were checked; {pull_the_rest(entry, report.source)}")))
    return replace(manifest, layers=tuple(d for d in manifest.layers if d not in gone))


def verify_store(store: Store) -> VerifyReport:
    """Every tagged model verified, and no blob whose name is not its digest; leftovers are warnings."""
    report = VerifyReport(source=str(store.root), format="store")
    for entry in store.entries():
        one = verify(StoredRef(entry.reference, store.root))
        report.blobs_checked += one.blobs_checked
        report.bytes_checked += one.bytes_checked
        report.problems += [Problem(severity=p.severity, message=f"{entry.reference}: {p.message}")
                            for p in one.problems]
    keep = reachable(store)
    for path in sorted(store.blobs.iterdir()) if store.blobs.is_dir() else []:
        if path.name.startswith("."):
            report.problems.append(Problem(severity="warning",
                                           message=f"leftover temporary file `{path.name}` (run `modeloci prune`)"))
        elif path.name not in keep:
            report.problems.append(Problem(severity="warning",
                                           message=f"blob {path.name} is not used by any tag (run `modeloci prune`)"))
    return report
