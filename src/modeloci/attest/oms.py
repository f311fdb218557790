"""Model signatures in the OpenSSF Model Signing format (OMS), made from a manifest without reading a weight byte.

An OMS signature is a Sigstore bundle whose DSSE payload is an in-toto
statement with predicate type ``https://model_signing/signature/v1.0``: one
``sha256`` resource per file of the model folder, named by its path in it, in
the order of the paths' parts, and a subject whose digest is the SHA-256 of
the resources' digests in that order (model_signing's ``Payload``). Each raw
layer of a modeloci model is one file whose SHA-256 is the layer's digest, and
``unpack --layout files`` writes it at its path: so the statement is made from
the manifest alone, and ``model_signing verify`` accepts the unpacked folder
with ``model.sig`` beside its files.

The statement's bytes are those model_signing writes (protobuf's JSON, indented
by two): where model_signing's own order is not fixed (protobuf keeps a
``Struct``'s keys in hash order, and the ignored paths are a set), the keys
follow the order its Python code builds them in and the ignored paths are sorted.

A tar layer (ModelPack ``.tar``) holds files whose digests the manifest does
not say, and a file at a path OMS verifiers leave out of a folder (``model.sig``,
git's files) could never verify: such models are refused, not half signed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from modeloci.attest.bundle import (
    BUNDLE_CONTENT_ANNOTATION,
    BUNDLE_PREDICATE_ANNOTATION,
    IN_TOTO_PAYLOAD_TYPE,
    BundleError,
    Signer,
    read_bundle,
    sign_statement,
)
from modeloci.errors import ArchiveError
from modeloci.findings import Problem
from modeloci.formats.artifact import ModelLayer
from modeloci.jsondoc import InvalidJSON, load_json
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType
from modeloci.oci.referrers import Referrer, make_referrer, read_referrer
from modeloci.oci.safety import safe_relative, shown_path

if TYPE_CHECKING:
    from modeloci.attest.trust import Trust

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
ARTIFACT_TYPE = str(MediaType.SIGSTORE_BUNDLE)
#: Where OMS tools look for a folder's signature.
SIGNATURE_FILE = "model.sig"
#: What model_signing's hashing leaves out of a folder by default (git's files) and the signature itself, as
#: ``model_signing sign`` records them for a folder signed into its ``model.sig``.
IGNORED_PATHS = (".git", ".gitattributes", ".github", ".gitignore", SIGNATURE_FILE)
_HEX = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True, slots=True)
class SignedFile:
    """One resource of a signature: a file's path in the model folder and its SHA-256."""

    path: str
    digest: Digest


@dataclass(frozen=True, slots=True)
class Statement:
    """What a signature's statement says: the model's name, its files, and the paths it leaves out."""

    name: str
    files: tuple[SignedFile, ...]
    ignored: tuple[str, ...]


def signed_files(layers: Sequence[ModelLayer], *, where: str = "the model") -> list[SignedFile]:
    """The model's files as a signature names them, in model_signing's order; ArchiveError for a model whose files
    cannot be signed from its manifest."""
    files: list[SignedFile] = []
    for layer in layers:
        digest = layer.descriptor.digest
        if layer.packing != "raw":
            raise ArchiveError(f"cannot sign {where}: layer {digest} is a tar of files "
                               f"(`{layer.descriptor.media_type}`), whose digests the manifest does not hold",
                               hint="an OMS signature names every file's digest; sign a model with one raw layer "
                                    "per file, as modeloci builds them")
        path = safe_relative(layer.filepath)
        if path is None:
            raise ArchiveError(f"cannot sign {where}: layer {digest} has the unsafe path "
                               f"`{shown_path(layer.filepath)}`")
        if is_ignored(path, IGNORED_PATHS):
            raise ArchiveError(f"cannot sign {where}: the file `{shown_path(path)}` is at a path OMS verifiers "
                               f"leave out of a folder ({', '.join(IGNORED_PATHS)})",
                               hint="leave it out of the model (EXCLUDE in the Modelfile), or rename it")
        files.append(SignedFile(path, digest))
    ordered = sorted(files, key=_order)
    for first, second in pairwise(ordered):
        if first.path == second.path:
            raise ArchiveError(f"cannot sign {where}: two layers are at `{shown_path(first.path)}`")
        if second.path.startswith(first.path + "/"):
            raise ArchiveError(f"cannot sign {where}: `{shown_path(first.path)}` is both a file and the folder "
                               f"of `{shown_path(second.path)}`")
    return ordered


def statement(name: str, files: Sequence[SignedFile]) -> bytes:
    """The in-toto statement of an OMS signature over ``files`` (in model_signing's order), as it writes it."""
    if not name:
        raise ValueError("a signed model needs a name")  # protobuf would leave an empty name out
    resources = [{"name": f.path, "algorithm": "sha256", "digest": f.digest.hex} for f in files]
    serialization = {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                     "ignore_paths": list(IGNORED_PATHS)}
    doc = {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {"sha256": root_digest(files)}}],
           "predicateType": PREDICATE_TYPE, "predicate": {"serialization": serialization, "resources": resources}}
    return json.dumps(doc, indent=2).encode("ascii")


def root_digest(files: Sequence[SignedFile]) -> str:
    """The subject's digest: SHA-256 over the files' raw digests, in the order given."""
    return hashlib.sha256(b"".join(bytes.fromhex(f.digest.hex) for f in files)).hexdigest()


def sign(subject: Descriptor, layers: Sequence[ModelLayer], signer: Signer, *, name: str) -> Referrer:
    """The OMS signature of the model whose manifest is ``subject`` and whose ``layers`` give the files, as a
    referrer annotated as cosign annotates a bundle (its content, its statement's predicate type)."""
    files = signed_files(layers, where=f"model {subject.digest}")
    bundle = sign_statement(statement(name, files), signer)
    return make_referrer(subject, ARTIFACT_TYPE, bundle, ARTIFACT_TYPE,
                         annotations={BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
                                      BUNDLE_PREDICATE_ANNOTATION: PREDICATE_TYPE})


def is_ignored(path: str, ignored: Sequence[str]) -> bool:
    return any(path == i or path.startswith(i.rstrip("/") + "/") for i in ignored)


def _order(file: SignedFile) -> list[str]:
    """model_signing sorts files by their path's parts (``a/b`` before ``a-b/c``), not by the text."""
    return file.path.split("/")


class StatementError(ValueError):
    """A signed payload that is not an OMS statement this reader checks; ``str(exc)`` says why."""


def read_statement(payload: bytes) -> Statement:
    """The statement a signature's payload holds, checked as model_signing checks it (its subject's digest is
    that of its resources); StatementError otherwise."""
    try:
        doc = load_json(payload, "the signed statement")
    except InvalidJSON as exc:
        raise StatementError(str(exc)) from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise StatementError("the payload is not an in-toto statement")
    if doc.get("predicateType") != PREDICATE_TYPE:
        raise StatementError(f"the statement's predicate type is `{doc.get('predicateType')}`, not "
                             f"`{PREDICATE_TYPE}`")
    subjects, predicate = doc.get("subject"), doc.get("predicate")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise StatementError("the statement does not have one subject")
    if not isinstance(predicate, dict):
        raise StatementError("the statement has no predicate")
    ignored = _serialization(predicate.get("serialization"))
    files = tuple(_resource(item) for item in _list(predicate.get("resources"), "resources"))
    names = [f.path for f in files]
    if len(set(names)) != len(names):
        raise StatementError("the statement names a file twice")
    digest = subjects[0].get("digest")
    stated = digest.get("sha256") if isinstance(digest, dict) else None
    if stated != root_digest(files):
        raise StatementError("the statement is inconsistent: its subject's digest is not that of its resources")
    name = subjects[0].get("name")
    return Statement(name if isinstance(name, str) else "", files, ignored)


def _serialization(value: object) -> tuple[str, ...]:
    if not isinstance(value, dict):
        raise StatementError("the statement does not say how the model was serialized")
    if value.get("method") != "files" or value.get("hash_type") != "sha256":
        raise StatementError(f"the model was signed by `{value.get('method')}` with `{value.get('hash_type')}`; "
                             "a signature of whole files by sha256 is checked against layers")
    return tuple(str(p) for p in _list(value.get("ignore_paths", []), "ignored paths") if isinstance(p, str))


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise StatementError(f"the statement's {what} are not a list")
    return value


def _resource(item: object) -> SignedFile:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise StatementError("a resource of the statement has no name")
    digest = item.get("digest")
    if item.get("algorithm") != "sha256" or not isinstance(digest, str) or not _HEX.match(digest):
        raise StatementError(f"the resource `{shown_path(item['name'])}` has no sha256 digest")
    return SignedFile(item["name"], Digest(digest))


def bundles(referrers: Sequence[Referrer]) -> list[tuple[Referrer, bytes]]:
    """The referrers that may be model signatures, each with its bundle: Sigstore bundles (one layer) but those
    whose statement says it is something else (a signed provenance). What a statement says is read unverified:
    it only decides which bundles are checked as signatures."""
    found = []
    for referrer in referrers:
        read = read_referrer(referrer.manifest) if referrer.artifact_type == ARTIFACT_TYPE else None
        layers = read[2] if read is not None else []
        if len(layers) == 1 and layers[0].digest in referrer.blobs:
            bundle = referrer.blobs[layers[0].digest]
            if _stated_predicate(bundle) in (None, PREDICATE_TYPE):
                found.append((referrer, bundle))
    return found


def _stated_predicate(bundle: bytes) -> str | None:
    """The predicate type a bundle's statement states, unverified; None when it states none that can be read."""
    try:
        doc = load_json(read_bundle(bundle).payload, "the statement")
    except (BundleError, InvalidJSON):
        return None
    kind = doc.get("predicateType") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def model_signature(referrers: Sequence[Referrer]) -> bytes | None:
    """The first of ``referrers`` that is an OMS signature (a bundle holding a model signing statement; its
    signature is not verified here), or None."""
    for _, bundle in bundles(referrers):
        try:
            opened = read_bundle(bundle)
            if opened.payload_type == IN_TOTO_PAYLOAD_TYPE:
                read_statement(opened.payload)
                return bundle
        except (BundleError, StatementError):
            continue
    return None


def check(bundle: bytes, layers: Sequence[ModelLayer], trust: Trust) -> list[Problem]:
    """Every way the signature ``bundle`` fails to vouch for the model with ``layers``: none when it is a
    signature, by a key ``trust`` trusts, of exactly these files."""
    try:
        opened = read_bundle(bundle)
    except BundleError as exc:
        return [Problem(message=f"not a signature: {exc}")]
    if opened.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return [Problem(message=f"not a model signature: the envelope holds `{opened.payload_type}`")]
    why = trust.check(opened)
    if why is not None:
        return [Problem(message=why)]
    try:
        signed = read_statement(opened.payload)
    except StatementError as exc:
        return [Problem(message=f"not a model signature: {exc}")]
    return compare(signed, layers)


def compare(signed: Statement, layers: Sequence[ModelLayer]) -> list[Problem]:
    """The files a statement signs against the model's layers: each missing, extra or changed file named."""
    found: list[Problem] = []
    model: dict[str, Digest] = {}
    for layer in layers:
        path = safe_relative(layer.filepath) if layer.packing == "raw" else None
        if path is None:
            found.append(Problem(message=f"extra file: layer {layer.descriptor.digest} "
                                         f"(`{shown_path(layer.filepath)}`) is not a file an OMS signature can name"))
        else:
            model[path] = layer.descriptor.digest
    wanted: Mapping[str, Digest] = {f.path: f.digest for f in signed.files}
    for path in sorted(wanted.keys() - model.keys()):
        found.append(Problem(message=f"missing file `{shown_path(path)}`: signed, but the model has no layer at "
                                     "that path"))
    for path in sorted(model.keys() - wanted.keys()):
        if is_ignored(path, signed.ignored):
            found.append(Problem(severity="warning",
                                 message=f"unsigned file `{shown_path(path)}`: the signature leaves its path out"))
        else:
            found.append(Problem(message=f"extra file `{shown_path(path)}`: the model has it, the signature does not"))
    for path in sorted(model.keys() & wanted.keys()):
        if model[path] != wanted[path]:
            found.append(Problem(message=f"other digest for `{shown_path(path)}`: signed {wanted[path]}, the "
                                         f"model's layer is {model[path]}"))
    return found
