"""``verify``: an archive, layout, stored model or the whole store, checked by :mod:`modeloci.formats.validate`.

``verify SOURCE`` opens the source without refusing unsafe members (they are
listed among the problems instead), makes every document check, then streams
every layer blob once against its digest. ``verify --store`` does that for
every tagged model and names blobs no tag uses and leftovers of killed runs.
"""

from __future__ import annotations

from modeloci.findings import Problem
from modeloci.formats.layertar import MAX_INFLATE_RATIO
from modeloci.formats.validate import VerifyReport, check_blobs, check_documents
from modeloci.sources import Source, StoredRef, open_source
from modeloci.store import Store
from modeloci.store.reach import reachable

__all__ = ["Problem", "VerifyReport", "verify", "verify_store"]


def verify(path: Source, *, max_inflate_ratio: int = MAX_INFLATE_RATIO) -> VerifyReport:
    """Check the archive, layout or stored model ``path``; ArchiveError only when it cannot be read at all.
    A gzip layer inflating more than ``max_inflate_ratio`` times its size is an error (0: no bound)."""
    report = VerifyReport(source=str(path))
    with open_source(path, strict=False) as layout:
        manifest = check_documents(layout, report, max_inflate_ratio=max_inflate_ratio)
        if manifest is not None:
            check_blobs(layout, manifest, report)
    return report


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
