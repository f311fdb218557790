"""Layer selections (``--include``, ``--exclude``, ``--role``): the glob language, the roles, and their bounds.

Globs come from the user, layer paths from whoever made the model: a path no file system holds matches nothing,
and matching stays linear whatever the glob holds."""

from __future__ import annotations

import time

import pytest

from modeloci.errors import UsageError
from modeloci.formats.artifact import ModelLayer
from modeloci.formats.roles import Role
from modeloci.formats.select import MAX_GLOB_CHARS, Selection, choose
from modeloci.oci.digest import Digest
from modeloci.oci.manifest import Descriptor
from modeloci.oci.mediatypes import MediaType

PATHS = {"model.gguf": Role.WEIGHTS, "tokenizer/tokenizer.json": Role.OTHER, "tokenizer/sub/vocab.txt": Role.OTHER,
         ".hidden/x.json": Role.OTHER, "LICENSE": Role.LICENSE, "README.md": Role.OTHER,
         "template.jinja": Role.CHAT_TEMPLATE, "mmproj.gguf": Role.MMPROJ}


def layer(path: str, role: Role = Role.OTHER) -> ModelLayer:
    d = Descriptor(str(MediaType.DOCKER_GGUF), Digest.of(path.encode()), 1)
    return ModelLayer(d, role, path)


LAYERS = [layer(path, role) for path, role in PATHS.items()]


def paths(selection: Selection, layers: list[ModelLayer] = LAYERS) -> list[str]:
    return [chosen.filepath for chosen in choose(layers, selection, "`m`")]


def test_star_stays_within_a_folder_and_double_star_crosses_folders_but_not_hidden_ones() -> None:
    with pytest.raises(UsageError):  # nothing taken: an error, not an empty model
        paths(Selection(include=("*.json",)))
    assert paths(Selection(include=("tokenizer/*",))) == ["tokenizer/tokenizer.json"]
    assert paths(Selection(include=("tokenizer/**",))) == ["tokenizer/tokenizer.json", "tokenizer/sub/vocab.txt"]
    assert paths(Selection(include=("**/*.json",))) == ["tokenizer/tokenizer.json"]
    assert paths(Selection(include=(".hidden/*",))) == [".hidden/x.json"]


def test_roles_and_exclude() -> None:
    assert paths(Selection(roles=("weights",))) == ["model.gguf"]
    assert paths(Selection(roles=("template", "projector"))) == ["template.jinja", "mmproj.gguf"]
    assert paths(Selection(roles=("docs",))) == ["README.md"]
    assert paths(Selection(roles=("config",))) == ["tokenizer/tokenizer.json", "tokenizer/sub/vocab.txt",
                                                     ".hidden/x.json"]
    assert paths(Selection(include=("*.gguf",), exclude=("mmproj*",))) == ["model.gguf"]
    assert paths(Selection(exclude=("**",))) == [".hidden/x.json"]  # `**` crosses no hidden folder


def test_a_layer_that_is_no_file_is_taken_by_no_glob_or_role() -> None:
    image = layer("")  # a container image's layer under a modelcar's model
    assert paths(Selection(roles=("config",)), [image, *LAYERS])[0] == "tokenizer/tokenizer.json"
    assert paths(Selection(exclude=("LICENSE",)), [image, LAYERS[0]]) == ["", "model.gguf"]


def test_a_selection_that_takes_nothing_names_the_layers() -> None:
    with pytest.raises(UsageError) as caught:
        choose(LAYERS, Selection(include=("*.safetensors",)), "`m`")
    assert caught.value.message == (
        "--include `*.safetensors` matches no layer of `m`; its layers are: `model.gguf` (weights), "
        "`tokenizer/tokenizer.json` (config), `tokenizer/sub/vocab.txt` (config), `.hidden/x.json` (config), "
        "`LICENSE` (license), `README.md` (docs), `template.jinja` (template), `mmproj.gguf` (projector)")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("include", "", "--include takes a glob of layer paths; it was given an empty one"),
    ("exclude", "/etc/*", "--exclude `/etc/*` can match no layer: layer paths are relative, inside the model"),
    ("include", "a/../../b", "--include `a/../../b` can match no layer: layer paths are relative, inside the model"),
    ("include", "x" * (MAX_GLOB_CHARS + 1),
     f"the --include glob is {MAX_GLOB_CHARS + 1} characters long; at most {MAX_GLOB_CHARS} are taken"),
    ("roles", "weight", "--role `weight` is not a role"),
])
def test_a_glob_or_role_that_can_match_nothing_is_a_usage_error(option: str, value: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        Selection(**{option: (value,)})
    assert caught.value.message == message


def test_a_hostile_layer_path_too_deep_for_a_file_system_matches_no_glob_and_costs_nothing() -> None:
    deep = layer("a/" * 5000 + "model.gguf", Role.WEIGHTS)
    assert paths(Selection(include=("**/*.gguf",)), [deep, LAYERS[0]]) == ["model.gguf"]
    assert paths(Selection(roles=("weights",)), [deep]) == [deep.filepath]  # a role takes it: unpack refuses it


def test_a_glob_of_many_double_stars_matches_a_deep_path_in_linear_time() -> None:
    glob = "**/a/" * ((MAX_GLOB_CHARS - 10) // 5) + "b"  # ~800 `**`s, each able to take any number of folders
    path = layer("a/" * 60 + "c", Role.WEIGHTS)  # 61 segments: as deep as a file system's paths go here
    start = time.perf_counter()
    with pytest.raises(UsageError):
        choose([path], Selection(include=(glob,)), "`m`")
    assert time.perf_counter() - start < 1.0
