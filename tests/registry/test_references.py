"""One reference grammar: a model's name (``-t``, the store) and a registry reference read text the same way.

``normalise_tag`` keeps the name as written and refuses digests; ``parse_reference``
fills in Docker Hub's defaults. Whatever one accepts as a name, the other accepts
too, and they split it at the same places.
"""

from __future__ import annotations

import pytest

from modeloci.errors import UsageError
from modeloci.oci.digest import Digest
from modeloci.reference import normalise_tag, split_reference
from modeloci.registry.image_ref import Reference, parse_reference

DIGEST = "sha256:" + "ab" * 32
NAME_HINT = "use NAME[:TAG] with a lowercase name, for example `ai/smollm2:360M-Q4_K_M`"
REFERENCE_HINT = "write [registry[:port]/]repository[:tag][@sha256:digest], e.g. ghcr.io/acme/tiny:1"
LOWERCASE = "repository names are lowercase letters, digits and separators (`.`, `_`, `-`)"


def _refused_as_a_name(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        normalise_tag(text)
    assert (caught.value.message, caught.value.hint) == (f"invalid model name `{text}`", NAME_HINT)


def _refused_as_a_reference(text: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_reference(text)
    assert (caught.value.message, caught.value.hint) == (f"invalid reference `{text}`: {why}", REFERENCE_HINT)


@pytest.mark.parametrize(("text", "name", "registry", "repository", "tag"), [
    ("tiny", "tiny:latest", "docker.io", "library/tiny", "latest"),
    ("tiny:1", "tiny:1", "docker.io", "library/tiny", "1"),
    ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360M-Q4_K_M", "docker.io", "ai/smollm2", "360M-Q4_K_M"),
    ("tiny.v2:_x", "tiny.v2:_x", "docker.io", "library/tiny.v2", "_x"),
    ("a__b/c--d/e.f:1.0", "a__b/c--d/e.f:1.0", "docker.io", "a__b/c--d/e.f", "1.0"),
    ("localhost/m", "localhost/m:latest", "localhost", "m", "latest"),
    ("localhost:5000/team/m:1", "localhost:5000/team/m:1", "localhost:5000", "team/m", "1"),
    ("localhost:5000", "localhost:5000", "docker.io", "library/localhost", "5000"),  # a name and a tag, as Docker
    ("Registry.Example.com/m", "Registry.Example.com/m:latest", "Registry.Example.com", "m", "latest"),
    ("127.0.0.1:5000/m:1", "127.0.0.1:5000/m:1", "127.0.0.1:5000", "m", "1"),
    ("[::1]:5000/m:1", "[::1]:5000/m:1", "[::1]:5000", "m", "1"),
    ("[fe80::1]/team/m", "[fe80::1]/team/m:latest", "[fe80::1]", "team/m", "latest"),
    ("m:" + "t" * 128, "m:" + "t" * 128, "docker.io", "library/m", "t" * 128),
    ("a/" + "b" * 253, "a/" + "b" * 253 + ":latest", "docker.io", "a/" + "b" * 253, "latest"),
])
def test_a_name_both_readings_accept_is_split_at_the_same_places(text: str, name: str, registry: str,
                                                                  repository: str, tag: str) -> None:
    assert normalise_tag(text) == name
    assert parse_reference(text) == Reference(registry, repository, tag, None)


@pytest.mark.parametrize(("text", "why"), [
    ("Tiny", LOWERCASE),
    ("ai/Tiny:1", LOWERCASE),
    ("Foo/bar", LOWERCASE),  # an uppercase first component names no host: it is part of the name
    ("LOCALHOST/m", LOWERCASE),
    ("a__b.c/m", "`a__b.c` is not a registry host"),  # a dot makes it a host, and a host has no underscore
    ("-x/m", LOWERCASE),
    ("a..b", LOWERCASE),
    ("ai//tiny", LOWERCASE),
    ("/tiny", LOWERCASE),
    ("tiny/", LOWERCASE),
    ("", LOWERCASE),
    ("tiny:", "`` is not a valid tag"),
    (":1", LOWERCASE),
    ("tiny:-x", "`-x` is not a valid tag"),
    ("tiny:.x", "`.x` is not a valid tag"),
    ("tiny:" + "t" * 129, f"`{'t' * 129}` is not a valid tag"),
    ("tiny:café", "`café` is not a valid tag"),  # OCI tags are ASCII: a registry puts them in a URL path
    ("tiny:١", "`١` is not a valid tag"),
    ("tiny:a:b", LOWERCASE),
    ("my_host:5000/m", "`my_host:5000` is not a registry host"),
    ("host:port/m", "`host:port` is not a registry host"),
    ("[::1/m", "`[::1` is not a registry host"),
    ("[::g]:5000/m", "`[::g]:5000` is not a registry host"),
    ("a-.example.com/m", "`a-.example.com` is not a registry host"),
    ("a/" + "b" * 254, "the name is longer than 255 characters"),
])
def test_text_one_reading_refuses_the_other_refuses_too(text: str, why: str) -> None:
    _refused_as_a_name(text)
    _refused_as_a_reference(text, why)


def test_an_ipv6_registry_with_a_port_names_a_stored_model_as_it_names_a_registry_model() -> None:
    """The two grammars disagreed: the name of a model pushed to ``[::1]:5000`` could not be a tag."""
    assert normalise_tag("[::1]:5000/m:1") == "[::1]:5000/m:1"
    assert parse_reference("[::1]:5000/m:1").registry == "[::1]:5000"


def test_an_uppercase_first_component_is_no_host_in_either_reading() -> None:
    """The model-name grammar read `Foo/bar` as host `Foo`; a registry reference refused it as an uppercase name."""
    _refused_as_a_name("Foo/bar")
    _refused_as_a_reference("Foo/bar", LOWERCASE)


def test_a_name_longer_than_255_characters_is_refused_by_both_readings() -> None:
    """The model-name grammar capped the name; a registry reference took any length."""
    text = "registry.example.com/" + "m" * 235
    _refused_as_a_name(text)
    _refused_as_a_reference(text, "the name is longer than 255 characters")


def test_docker_hub_written_out_is_the_reference_docker_reads() -> None:
    """``docker.io/tiny`` is Docker's ``docker.io/library/tiny``; ``index.docker.io`` is Docker Hub's old name."""
    assert parse_reference("docker.io/tiny:1") == Reference("docker.io", "library/tiny", "1")
    assert parse_reference("docker.io/ai/tiny") == Reference("docker.io", "ai/tiny", "latest")
    assert parse_reference("index.docker.io/ai/tiny:1") == Reference("docker.io", "ai/tiny", "1")
    assert parse_reference("index.docker.io/tiny").familiar == "tiny:latest"
    assert normalise_tag("docker.io/tiny:1") == "docker.io/tiny:1"  # a stored name stays as written


def test_a_digest_pins_a_registry_reference_and_is_no_model_name() -> None:
    assert parse_reference(f"ai/tiny@{DIGEST}") == Reference("docker.io", "ai/tiny", None, Digest.parse(DIGEST))
    assert parse_reference(f"localhost:5000/m:1@{DIGEST}") == Reference("localhost:5000", "m", "1",
                                                                         Digest.parse(DIGEST))
    assert str(parse_reference(f"localhost:5000/m:1@{DIGEST}")) == f"localhost:5000/m:1@{DIGEST}"
    _refused_as_a_name(f"ai/tiny@{DIGEST}")
    _refused_as_a_name(f"ai/tiny:1@{DIGEST}")


@pytest.mark.parametrize(("text", "why"), [
    ("ai/tiny@sha256:abc", "`sha256:abc` is not a sha256 digest"),
    (f"ai/tiny@{DIGEST.upper()}", f"`{DIGEST.upper()}` is not a sha256 digest"),
    ("ai/tiny@sha512:" + "ab" * 64, f"`sha512:{'ab' * 64}` is not a sha256 digest"),
    (f"Bad:-tag@{DIGEST}x", f"`{DIGEST}x` is not a sha256 digest"),  # the digest is named first
    (f"Bad:-tag@{DIGEST}", "`-tag` is not a valid tag"),  # then the tag
    ("bad_host.io:-tag", "`-tag` is not a valid tag"),
    ("bad_host.io/m:1", "`bad_host.io` is not a registry host"),  # then the host, then the path
])
def test_a_reference_names_its_first_wrong_part(text: str, why: str) -> None:
    _refused_as_a_reference(text, why)
    _refused_as_a_name(text)


def test_the_grammar_changes_nothing_it_reads() -> None:
    written = split_reference(f"Registry.Example.com:443/team/m:v1@{DIGEST}")
    assert (written.host, written.path, written.tag, written.digest) == (
        "Registry.Example.com:443", "team/m", "v1", DIGEST)
    assert written.name == "Registry.Example.com:443/team/m"
    assert split_reference("m").name == "m"
