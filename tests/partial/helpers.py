"""A model of three GGUF quantizations and a license, and the same model kept in part in the store, as
``pull --include '*Q4_K_M*.gguf'`` leaves it (without a registry: the other blobs are taken out of the store)."""

from __future__ import annotations

from pathlib import Path

from modeloci import api
from modeloci.builder import build_store
from modeloci.formats.select import PARTIAL
from modeloci.oci.manifest import Descriptor
from modeloci.store import Store
from modeloci.store.ops import stored_model
from modeloci.store.partial import ORIGIN
from tests.factories import STRING, gguf

QUANTS = ("Q4_K_M", "Q8_0", "F16")
LICENSE = "Apache-2.0, for the tests\n"
ORIGIN_NAME = "registry.example/models/tiny"  # where the partial model says it came from
KEPT = "tiny-Q4_K_M.gguf"


def three_quants(folder: Path) -> Path:
    """A Modelfile of three GGUF quantizations of one tiny model (three weight files, each its own blob) and a
    license."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, quant in enumerate(QUANTS):
        gguf(folder / f"tiny-{quant}.gguf", metadata=[("general.name", STRING, f"tiny {quant}")],
             tensors=[("blk.0.w", (8, 8 + n), 0)])
    (folder / "LICENSE").write_text(LICENSE)
    weights = " ".join(f"tiny-{q}.gguf" for q in QUANTS)
    (folder / "Modelfile").write_text(f"FROM scratch\nWEIGHTS {weights}\nLICENSE LICENSE\n")
    return folder / "Modelfile"


def whole(tmp_path: Path, reference: str = "tiny:1") -> Store:
    """The three-quantization model, built into the store as ``reference``."""
    store = Store()
    build_store(api.plan(three_quants(tmp_path / "src"), reference=reference), store)
    return store


def partial(tmp_path: Path, reference: str = "tiny:1", kept: tuple[str, ...] = (KEPT,)) -> dict[str, str]:
    """The model in the store as a partial pull of ``kept`` leaves it: the other layers' blobs absent, its entry
    marked partial, with where it came from. Returns each layer's path -> digest."""
    store = whole(tmp_path, reference)
    model = stored_model(store, reference)
    paths = {layer.filepath: str(layer.descriptor.digest) for layer in model.artifact.layers}
    for layer in model.artifact.layers:
        if layer.filepath not in kept:
            store.blob_path(layer.descriptor.digest).unlink()
    d = store.get(reference).descriptor
    store.tag(reference, Descriptor(d.media_type, d.digest, d.size, {ORIGIN: ORIGIN_NAME, PARTIAL: "true"},
                                    d.artifact_type))
    return paths
