"""Control characters from files, archives and the user's arguments never reach the terminal raw.

Each test builds a hostile input for real (a GGUF whose ``general.architecture``
writes the clipboard with OSC 52 and clears the screen, safetensors and template
files whose names hold ANSI colour codes, a bidi override, rich markup, or a
newline followed by a forged ``error:`` line, an archive whose ref name holds
them, a Modelfile with ESC bytes) and runs the CLI on it. What the CLI prints
must hold no C0 control but tab and newline, no DEL, C1 control or bidi
control, must show the escaped form (``\\x1b``, ``\\n``, ``\\u202e``), must never
start a line with the forged ``error: forged``, and ``--json`` must keep the
exact value.

click strips ANSI colour sequences from what it echoes when the output is not a
terminal (as under pytest); a user's output is one, so the ``terminal`` fixture
turns that off and the tests see what a terminal would get.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import click.utils
import pytest

from modeloci.progress import Display
from modeloci.termsafe import json_text, safe_text
from tests import factories
from tests.ops.test_verify import rewrite, set_filepath, sha256, with_manifest

OSC52 = "\x1b]52;c;ZXZpbA==\x07\x1b[2J"  # write "evil" to the clipboard, then clear the screen
OSC52_SHOWN = "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J"
C1_BIDI = "\x9b2J\u202eevil"  # a C1 CSI and a right-to-left override
C1_BIDI_SHOWN = "\\x9b2J\\u202eevil"
ANSI_NAME, ANSI_SHOWN = "\x1b[31mred.safetensors", "\\x1b[31mred.safetensors"
FORGED_NAME, FORGED_SHOWN = "x\nerror: forged.jinja", "x\\nerror: forged.jinja"
BIDI_NAME, BIDI_SHOWN = "a\u202eb.jinja", "a\\u202eb.jinja"
MARKUP_NAME = "[bold]b:warning:.jinja"  # rich markup and an emoji code: printed as named
HOSTILE_REF = "\x1b]52;c;ZXZpbA==\x07evil\nerror: forged\u202e:1"
HOSTILE_REF_SHOWN = "\\x1b]52;c;ZXZpbA==\\x07evil\\nerror: forged\\u202e:1"
REF_NAME = "org.opencontainers.image.ref.name"
LABEL_SHOWN = "note=[bold]x :warning:\\u202e"  # a Modelfile may hold bidi controls (not C0 ones) in a quoted value

# Independent of modeloci.termsafe: the characters a terminal must not receive from a value.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(click.utils, "should_strip_ansi", lambda stream=None, color=None: False)


def shown(result: Any) -> str:
    """stdout and stderr together, checked: no raw control character, no line forged by a value."""
    text = result.stdout + result.stderr
    match = RAW.search(text)
    assert match is None, f"raw {match.group()!r} reached the terminal: {text!r}"
    assert not [line for line in text.split("\n") if line.startswith("error: forged")], text
    return text


def row(text: str, cell: str) -> list[str]:
    """The whitespace-separated cells of the one line of a table that holds ``cell``."""
    lines = [line for line in text.split("\n") if cell in line.split()]
    assert len(lines) == 1, (cell, text)
    return lines[0].split()


def hostile_gguf(folder: Path) -> Path:
    return factories.gguf(folder / "evil.gguf", arch=OSC52, metadata=[("general.name", factories.STRING, C1_BIDI)])


def hostile_gguf_model(folder: Path) -> Path:
    """A Modelfile building the hostile GGUF; returns its folder."""
    hostile_gguf(folder)
    (folder / "Modelfile").write_text("FROM scratch\nWEIGHTS evil.gguf\n")
    return folder


def hostile_folder(root: Path) -> Path:
    """A Hugging Face style folder whose file names attack the terminal, and a Modelfile that builds it."""
    folder = root / "hf"
    factories.safetensors(folder / "model.safetensors")
    factories.safetensors(folder / ANSI_NAME)
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    for name in (FORGED_NAME, BIDI_NAME, MARKUP_NAME):
        (folder / name).write_text("{{ messages }}")
    (root / "Modelfile").write_text('FROM scratch\nWEIGHTS hf\nLABEL note="[bold]x :warning:\u202e"\n')
    return root


def built_archive(cli, root: Path, modelfile_folder: Path) -> Path:
    assert cli("build", "-q", "-o", str(root / "m.tar"), "-t", "evil:1", cwd=modelfile_folder).code == 0
    return root / "m.tar"


def with_ref_name(src: Path, dst: Path, ref_name: str) -> Path:
    """A copy of the archive whose index.json names it ``ref_name`` (index.json is not a blob: no digest changes)."""

    def edit(items: list[Any]) -> list[Any]:
        out = []
        for info, data in items:
            changed = data
            if info.name == "index.json":
                index = json.loads(data)
                index["manifests"][0]["annotations"][REF_NAME] = ref_name
                changed = json.dumps(index).encode()
            out.append((info, changed))
        return out

    return rewrite(src, dst, edit)


# --- the rule itself -------------------------------------------------------------------------------------------


def test_safe_text_escapes_controls_bidi_and_separators_and_keeps_ordinary_text() -> None:
    assert safe_text("é 中文 \\ [bold] ~") == "é 中文 \\ [bold] ~"
    assert safe_text("\t\n\r\x00\x1b\x7f\x85\x9b") == "\\t\\n\\r\\x00\\x1b\\x7f\\x85\\x9b"
    bidi = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    assert safe_text(bidi) == "\\u061c\\u200e\\u200f\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
    assert safe_text("\u2028\u2029\udfff") == "\\u2028\\u2029\\udfff"  # line separators; a lone surrogate
    assert safe_text(safe_text(OSC52)) == OSC52_SHOWN  # escaping twice changes nothing
    assert safe_text(12) == "12"


def test_json_text_keeps_exact_values_with_no_raw_control_character() -> None:
    value = OSC52 + C1_BIDI + "\x7f\u2028\udfff é"
    text = json_text({"v": value})
    assert RAW.search(text.replace("\n", "")) is None
    assert "\\u009b" in text and "\\u202e" in text and "é" in text
    assert json.loads(text) == {"v": value}


# --- inspect: a GGUF file, a model folder, an archive --------------------------------------------------------


def test_osc52_clipboard_write_in_gguf_architecture_is_escaped_by_inspect(tmp_path: Path, cli) -> None:
    hostile_gguf(tmp_path)
    result = cli("inspect", "evil.gguf", cwd=tmp_path)
    assert result.code == 0, result.stderr
    text = shown(result)
    assert f"architecture: {OSC52_SHOWN}\n" in text
    assert row(text, "general.architecture") == ["general.architecture", "string", OSC52_SHOWN]
    assert row(text, "general.name") == ["general.name", "string", C1_BIDI_SHOWN]


def test_c1_and_bidi_controls_in_gguf_metadata_are_json_escaped_and_kept_exact(tmp_path: Path, cli) -> None:
    hostile_gguf(tmp_path)
    result = cli("inspect", "--json", "evil.gguf", cwd=tmp_path)
    assert result.code == 0, result.stderr
    shown(result)
    assert "\\u009b2J\\u202eevil" in result.stdout
    report = json.loads(result.stdout)
    assert report["config"]["architecture"] == OSC52
    assert {m["key"]: m["value"] for m in report["metadata"]}["general.name"] == C1_BIDI


def test_ansi_bidi_forged_and_markup_file_names_are_escaped_by_inspect_of_a_model_folder(tmp_path: Path,
                                                                                          cli) -> None:
    hostile_folder(tmp_path)
    result = cli("inspect", "hf", cwd=tmp_path)
    assert result.code == 0, result.stderr
    text = shown(result)
    assert row(text, ANSI_SHOWN) == [ANSI_SHOWN, "weights", "80", "B"]
    assert row(text, FORGED_SHOWN.split()[1]) == [*FORGED_SHOWN.split(), "chat_template", "14", "B"]
    assert row(text, BIDI_SHOWN) == [BIDI_SHOWN, "chat_template", "14", "B"]
    assert row(text, MARKUP_NAME) == [MARKUP_NAME, "chat_template", "14", "B"]
    files = {f["path"] for f in json.loads(cli("inspect", "--json", "hf", cwd=tmp_path).stdout)["files"]}
    assert {ANSI_NAME, FORGED_NAME, BIDI_NAME, MARKUP_NAME} <= files


def test_hostile_layer_file_names_are_escaped_by_inspect_of_an_archive(tmp_path: Path, cli) -> None:
    archive = built_archive(cli, tmp_path, hostile_folder(tmp_path / "src"))
    result = cli("inspect", str(archive))
    assert result.code == 0, result.stderr
    text = shown(result)
    assert row(text, ANSI_SHOWN)[1:4] == ["weights", ANSI_SHOWN, "80"]
    assert row(text, BIDI_SHOWN)[1:4] == ["chat_template", BIDI_SHOWN, "14"]
    assert row(text, MARKUP_NAME)[1:4] == ["chat_template", MARKUP_NAME, "14"]
    assert FORGED_SHOWN in text
    assert f"label: {LABEL_SHOWN}\n" in text
    layers = json.loads(cli("inspect", "--json", str(archive)).stdout)["layers"]
    assert {ANSI_NAME, FORGED_NAME, BIDI_NAME, MARKUP_NAME} <= {layer["path"] for layer in layers}


def test_hostile_ref_name_of_an_archive_is_escaped_by_inspect(tmp_path: Path, cli) -> None:
    archive = with_ref_name(built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src")),
                            tmp_path / "m\u202e.tar", HOSTILE_REF)
    result = cli("inspect", str(archive))
    assert result.code == 0, result.stderr
    text = shown(result)
    assert text.startswith(f"{tmp_path}/m\\u202e.tar: docker model {HOSTILE_REF_SHOWN}\n")
    assert f"architecture: {OSC52_SHOWN}\n" in text
    assert json.loads(cli("inspect", "--json", str(archive)).stdout)["reference"] == HOSTILE_REF


def test_hostile_config_media_type_is_escaped_by_inspect_and_verify(tmp_path: Path, cli) -> None:
    good = built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src"))
    media_type = "application/x\x1b[2J\nerror: forged"

    def edit(doc: dict[str, Any]) -> None:
        doc["config"]["mediaType"] = media_type

    archive, _ = with_manifest(good, tmp_path / "mt.tar", edit)
    result = cli("inspect", str(archive))
    assert result.code == 0, result.stderr
    assert "config:       application/x\\x1b[2J\\nerror: forged\n" in shown(result)
    assert json.loads(cli("inspect", "--json", str(archive)).stdout)["config_media_type"] == media_type
    result = cli("verify", str(archive))
    shown(result)
    assert result.stderr == ("warning: config media type `application/x\\x1b[2J\\nerror: forged` is not one "
                             "Docker Model Runner reads\n")


# --- plan and build ----------------------------------------------------------------------------------------------


def test_hostile_file_names_and_markup_are_escaped_by_plan(tmp_path: Path, cli) -> None:
    hostile_folder(tmp_path)
    result = cli("plan", cwd=tmp_path)
    assert result.code == 0, result.stderr
    text = shown(result)
    assert row(text, ANSI_SHOWN)[1:] == ["weights", ANSI_SHOWN, "80", "B", "line", "2", "docker.ai.safetensors"]
    assert row(text, BIDI_SHOWN)[1:3] == ["chat_template", BIDI_SHOWN]
    assert row(text, MARKUP_NAME)[1:3] == ["chat_template", MARKUP_NAME]
    assert FORGED_SHOWN in text
    assert f"label:   {LABEL_SHOWN}\n" in text
    layers = json.loads(cli("plan", "--json", cwd=tmp_path).stdout)["layers"]
    assert {ANSI_NAME, FORGED_NAME, BIDI_NAME, MARKUP_NAME} <= {layer["filepath"] for layer in layers}


def test_bidi_override_in_a_base_archive_path_is_escaped_by_plan(tmp_path: Path, cli) -> None:
    built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src"))
    (tmp_path / "m.tar").rename(tmp_path / "b\u202e.tar")
    (tmp_path / "Modelfile").write_text("FROM b\u202e.tar\n")
    result = cli("plan", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "\nfrom:    b\\u202e.tar (sha256:" in shown(result)


def test_osc52_in_gguf_architecture_is_escaped_by_plan(tmp_path: Path, cli) -> None:
    hostile_gguf_model(tmp_path)
    result = cli("plan", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert f" architecture={OSC52_SHOWN} " in shown(result)


def test_build_arg_with_controls_is_escaped_in_plan_labels_and_kept_exact_in_json(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Modelfile").write_text("ARG X\nFROM scratch\nWEIGHTS m.gguf\nLABEL note=${X}\n")
    value = OSC52 + C1_BIDI + "\nerror: forged"
    result = cli("plan", "--build-arg", f"X={value}", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert f"label:   note={OSC52_SHOWN}{C1_BIDI_SHOWN}\\nerror: forged\n" in shown(result)
    result = cli("plan", "--json", "--build-arg", f"X={value}", cwd=tmp_path)
    shown(result)
    assert json.loads(result.stdout)["labels"] == {"note": value}


def test_forged_output_name_is_escaped_by_build(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m.gguf\n")
    output = "m\x1b[2J\nerror: forged.tar"
    result = cli("build", "-o", output, "-t", "x:1", cwd=tmp_path)
    assert result.code == 0, result.stderr
    text = shown(result)
    assert "Built m\\x1b[2J\\nerror: forged.tar (1 layers, " in text
    result = cli("build", "-q", "--json", "-o", output, cwd=tmp_path)
    assert json.loads(result.stdout)["output"] == output


# --- unpack, verify, ls, load --------------------------------------------------------------------------------------


def test_hostile_layer_file_names_are_escaped_by_unpack(tmp_path: Path, cli) -> None:
    archive = built_archive(cli, tmp_path, hostile_folder(tmp_path / "src"))
    result = cli("unpack", str(archive), "-o", "out\x1b[2J", "--layout", "files", cwd=tmp_path)
    assert result.code == 0, result.stderr
    lines = shown(result).split("\n")
    assert {f"{ANSI_SHOWN}  80", f"{FORGED_SHOWN}  14", f"{BIDI_SHOWN}  14", f"{MARKUP_NAME}  14"} <= set(lines)
    assert "Unpacked 6 files into out\\x1b[2J" in lines
    result = cli("unpack", "--json", str(archive), "-o", str(tmp_path / "out2"), "--layout", "files")
    assert {ANSI_NAME, FORGED_NAME, BIDI_NAME, MARKUP_NAME} <= {f["path"] for f in json.loads(result.stdout)["files"]}


def test_hostile_ref_name_and_archive_name_are_escaped_by_verify(tmp_path: Path, cli) -> None:
    good = built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src"))
    archive = with_ref_name(good, tmp_path / "m\x1b[2J.tar", HOSTILE_REF)
    result = cli("verify", str(archive))
    assert result.code == 1
    shown(result)
    assert result.stderr == f"error: index.json's ref name `{HOSTILE_REF_SHOWN}` is not a valid reference\n"
    size = (tmp_path / "src" / "evil.gguf").stat().st_size
    assert result.stdout == f"FAILED (1 problem): {tmp_path}/m\\x1b[2J.tar (docker, 1 blobs, {size} bytes checked)\n"
    report = json.loads(cli("verify", "--json", str(archive)).stdout)
    assert report["problems"][0]["message"] == f"index.json's ref name `{HOSTILE_REF}` is not a valid reference"


def test_hostile_ref_name_and_archive_name_are_escaped_in_the_refusal_of_load(tmp_path: Path, cli) -> None:
    good = built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src"))
    archive = with_ref_name(good, tmp_path / "r\u202e.tar", HOSTILE_REF)
    result = cli("load", str(archive))
    assert result.code == 1
    shown(result)
    assert result.stderr == (f"error: refusing to load `{tmp_path}/r\\u202e.tar`: index.json's ref name "
                             f"`{HOSTILE_REF_SHOWN}` is not a valid reference\n"
                             f"help: `modeloci verify {tmp_path}/r\\u202e.tar` lists every problem\n")
    result = cli("load", "--json", str(archive))
    shown(result)
    assert json.loads(result.stdout)["error"] == (f"refusing to load `{archive}`: index.json's ref name "
                                                  f"`{HOSTILE_REF}` is not a valid reference")


def test_osc52_architecture_of_a_stored_model_is_escaped_by_ls(tmp_path: Path, cli) -> None:
    archive = built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src"))
    assert cli("load", str(archive)).code == 0
    result = cli("ls")
    assert result.code == 0, result.stderr
    assert row(shown(result), "evil")[-3:] == [OSC52_SHOWN, "16", "MOSTLY_F32"]
    assert json.loads(cli("ls", "--json").stdout)[0]["architecture"] == OSC52


# --- error messages ------------------------------------------------------------------------------------------------


def test_forged_error_line_in_a_path_is_escaped_in_the_error_and_exact_in_json(tmp_path: Path, cli) -> None:
    path = "missing\x1b[2J\u202e\nerror: forged"
    result = cli("inspect", path, cwd=tmp_path)
    assert result.code == 2
    shown(result)
    assert result.stderr == ("error: `missing\\x1b[2J\\u202e\\nerror: forged` not found\n"
                             "help: give an archive, a layout folder, or a model in the store\n")
    result = cli("inspect", "--json", path, cwd=tmp_path)
    shown(result)
    assert json.loads(result.stdout)["error"] == f"`{path}` not found"


def test_unsafe_layer_path_from_an_archive_is_escaped_in_the_error_of_unpack(tmp_path: Path, cli) -> None:
    good = built_archive(cli, tmp_path, hostile_gguf_model(tmp_path / "src"))
    archive, _ = with_manifest(good, tmp_path / "fp.tar", set_filepath((0, "../\x1b[2J\nerror: forged.gguf")))
    result = cli("unpack", str(archive), "-o", str(tmp_path / "out"), "--layout", "files")
    assert result.code == 1
    shown(result)
    layer = sha256((tmp_path / "src" / "evil.gguf").read_bytes())
    assert result.stderr == (f"error: refusing to unpack: layer {layer} has the unsafe path "
                             "`../\\x1b[2J\\nerror: forged.gguf`\n")


def test_forged_build_arg_name_is_escaped_in_the_error_and_its_hint(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Modelfile").write_text("FROM scratch\nWEIGHTS m.gguf\n")
    result = cli("plan", "--build-arg", "X\x1b[2J\nerror: forged", cwd=tmp_path)
    assert result.code == 2
    shown(result)
    assert result.stderr == ("error: --build-arg `X\\x1b[2J\\nerror: forged` has no value\n"
                             "help: write `--build-arg X\\x1b[2J\\nerror: forged=VALUE`\n")


def test_forged_error_line_in_a_click_usage_error_is_escaped(tmp_path: Path, cli) -> None:
    result = cli("inspect", "a", "b\x1b[31m\nerror: forged", cwd=tmp_path)
    assert result.code == 2
    assert shown(result).endswith("Error: Got unexpected extra argument (b\\x1b[31m\\nerror: forged)\n")


# --- Modelfiles and their diagnostics ------------------------------------------------------------------------------


def test_esc_in_a_modelfile_label_and_a_bad_line_never_reaches_the_terminal(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "m.gguf")
    (tmp_path / "Modelfile").write_text(f'FROM scratch\nWEIGHTS m.gguf\nLABEL a="x\x1b[31my"\nWIEGHTS {OSC52} b\n')
    result = cli("plan", cwd=tmp_path)
    assert result.code == 2
    text = shown(result)
    # One U+FFFD per control character, so the caret stays under it.
    assert ("error[MF009]: Control character U+001B in the Modelfile\n"
            " --> Modelfile:3:11\n"
            "  |\n"
            '3 | LABEL a="x\ufffd[31my"\n'
            "  |           ^ not allowed\n") in text
    assert ("4 | WIEGHTS \ufffd]52;c;ZXZpbA==\ufffd\ufffd[2J b\n"
            "  |                        ^ not allowed\n") in text


def test_modelfile_path_with_controls_is_escaped_in_diagnostics(tmp_path: Path, cli) -> None:
    folder = tmp_path / "e\x1b[31m\nerror: forged"
    folder.mkdir()
    (folder / "Modelfile").write_text("WIEGHTS m.gguf\n")
    too_large = tmp_path / "f\u202e"  # MF012 has no span: its file is shown on a line of its own
    too_large.mkdir()
    (too_large / "Modelfile").write_text("#" * (1024 * 1024 + 1))
    result = cli("lint", ".", cwd=tmp_path)
    assert result.code == 2
    text = shown(result)
    assert " --> ./e\\x1b[31m\\nerror: forged/Modelfile:1:1\n" in text
    assert "\n --> ./f\\u202e/Modelfile\n" in text


def test_bidi_override_and_forged_folder_name_are_escaped_by_fmt_check(tmp_path: Path, cli) -> None:
    folder = tmp_path / "e\x1b[31m\nerror: forged"
    folder.mkdir()
    (folder / "Modelfile").write_text('from scratch\nLABEL a="x\u202ey"\n')
    result = cli("fmt", "--check", ".", cwd=tmp_path)
    assert result.code == 1
    text = shown(result)
    assert result.stdout.startswith("--- ./e\\x1b[31m\\nerror: forged/Modelfile\n")
    assert '\n LABEL a="x\\u202ey"\n' in result.stdout
    assert "would reformat ./e\\x1b[31m\\nerror: forged/Modelfile\n" in text


def test_bidi_override_in_a_weights_file_name_is_escaped_by_init(tmp_path: Path, cli) -> None:
    factories.gguf(tmp_path / "a\u202eb.gguf")
    result = cli("init", str(tmp_path))
    assert result.code == 0, result.stderr
    assert f'Wrote {tmp_path}/Modelfile (weights: "a\\u202eb.gguf")\n' in shown(result)
    result = cli("init", "--json", "--stdout", str(tmp_path))
    shown(result)
    assert 'WEIGHTS "a\u202eb.gguf"' in json.loads(result.stdout)["text"]


# --- progress --------------------------------------------------------------------------------------------------------


def test_progress_lines_escape_a_forged_description() -> None:
    stream = io.StringIO()
    Display("plain", stream=stream).task("hashing x\x1b[2J\nerror: forged", 0)
    assert stream.getvalue().startswith("hashing x\\x1b[2J\\nerror: forged: 0 B\n")
    assert RAW.search(stream.getvalue().replace("\n", "")) is None


def test_progress_bars_show_a_description_as_text_not_markup() -> None:
    stream = io.StringIO()
    with Display("tty", stream=stream) as display:
        display.task("pulling [bold]b:warning:\x1b]52;c;ZXZpbA==\x07", 10)
    assert "pulling [bold]b:warning:\\x1b]52;c;ZXZpbA==\\x07" in stream.getvalue()
    assert "\x1b]52" not in stream.getvalue()


def test_logout_of_a_hostile_registry_name_is_escaped(cli) -> None:
    """`logout` echoes its argument: a name carrying OSC 52 and a forged line prints escaped, exact in --json."""
    text = shown(cli("logout", HOSTILE_REF))
    assert f"Not logged in to {HOSTILE_REF_SHOWN}" in text
    assert json.loads(cli("logout", HOSTILE_REF, "--json").stdout) == {"registry": HOSTILE_REF, "removed": False}
