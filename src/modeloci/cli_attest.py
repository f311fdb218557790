"""``sign``: a model's signature in the OpenSSF Model Signing format, attached to it as an OCI referrer.

Thin: the work is in :mod:`modeloci.ops.sign`. What a model says is shown through safe_text; ``--json`` keeps
exact values.
"""

from __future__ import annotations

import json
from pathlib import Path

import rich_click as click

from modeloci.cli import cli
from modeloci.cli_options import insecure_option, json_option, local_or_remote
from modeloci.errors import UsageError
from modeloci.termsafe import safe_text


@cli.command()
@click.argument("target")
@click.option("--key", type=click.Path(path_type=Path), required=True, metavar="KEY.pem",
              help="The ECDSA private key (PEM; P-256, P-384 or P-521) to sign with, as `model_signing sign key` "
                   "takes it.")
@click.option("--certificate", type=click.Path(path_type=Path), default=None, metavar="CERT.pem",
              help="The key's X.509 certificate (PEM): the signature carries it, as `model_signing sign "
                   "certificate` makes it.")
@click.option("--cert-chain", "cert_chain", type=click.Path(path_type=Path), multiple=True, metavar="CHAIN.pem",
              help="With --certificate: the certificates above it (PEM), carried in the signature.")
@click.option("--name", default=None,
              help="The model's name in the signature (informative) [default: its repository's last part].")
@insecure_option
@json_option
def sign(target: str, key: Path, certificate: Path | None, cert_chain: tuple[Path, ...], name: str | None,
         insecure: tuple[str, ...], as_json: bool) -> None:
    """Sign a model (an archive, a layout, a stored model or a registry reference) in the OpenSSF Model Signing
    format, and attach the signature to it.

    Reads the manifest only, never a weight: every layer's digest is its file's SHA-256. `modeloci unpack`
    writes the signature as `model.sig` beside the files, where `model_signing verify` checks it;
    `modeloci verify --key PUB.pem` checks it in place.
    """
    from modeloci.attest.keys import load_signer
    from modeloci.ops.sign import sign as run_sign

    if name is not None and not name.strip():
        raise UsageError("--name is empty", hint="give the model's name, or leave --name out")
    signer = load_signer(key, certificate=certificate, chain=cert_chain)
    report = run_sign(local_or_remote(target, insecure), signer, name=name)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    click.echo(f"Signed {safe_text(report.source)} ({report.manifest_digest}): {report.files} files")
    click.echo(f"signature: {report.signature_digest}")
