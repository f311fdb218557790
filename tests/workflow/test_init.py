"""``modeloci init``: drafts pinned by snapshots on example folders, files recognised by content.

Every draft must be in ``fmt``'s canonical layout and, for a complete folder,
compile as it is: a draft that does not build is no help.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modeloci.modelfile.fmt import format_modelfile
from tests import factories
from tests.archive_tools import EXAMPLES
from tests.workflow.schemas import InitOutput

STRING = factories.STRING


def _copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("Modelfile", "*.tar"))
    return dest


def _draft(folder: Path, cli) -> str:
    result = cli("init", str(folder))
    assert result.code == 0, result.stderr
    return (folder / "Modelfile").read_text()


def _assert_canonical_and_buildable(folder: Path, cli) -> None:
    text = (folder / "Modelfile").read_bytes()
    assert format_modelfile(text).text == text.decode(), "init wrote a Modelfile fmt would change"
    plan = cli("plan", "-f", str(folder / "Modelfile"))
    assert plan.code == 0, plan.stderr


@pytest.mark.parametrize("example", ["single-gguf", "sharded-vision", "hf-safetensors", "hf-safetensors/tiny-qwen"])
def test_init_on_example_folders(example: str, tmp_path: Path, cli, snapshot) -> None:
    folder = _copy(EXAMPLES / example, tmp_path / Path(example).name)
    assert _draft(folder, cli) == snapshot
    _assert_canonical_and_buildable(folder, cli)


def test_init_recognises_files_by_content_not_name(tmp_path: Path, cli, snapshot) -> None:
    folder = tmp_path / "mixed"
    llama = [("general.name", STRING, "Mixed Chat"), ("llama.context_length", factories.UINT32, 4096)]
    factories.gguf(folder / "mixed-Q4_K_M.gguf", metadata=llama)
    factories.gguf(folder / "mixed-Q8_0.gguf", metadata=llama)
    factories.gguf(folder / "mmproj-but-really-weights.gguf", metadata=llama)  # a name that lies
    factories.mmproj(folder / "vision-tower.gguf")  # a projector without "mmproj" in its name
    (folder / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    (folder / "chat template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    (folder / "LICENSE").write_text("MIT\n")
    (folder / "NOTICE.md").write_text("notice\n")
    (folder / "README.md").write_text("# readme\n")
    (folder / ".hidden").write_text("x")
    text = _draft(folder, cli)
    assert text == snapshot
    assert "WEIGHTS mixed-Q4_K_M.gguf\n" in text
    assert "MMPROJ vision-tower.gguf\n" in text
    assert 'CHAT_TEMPLATE "chat template.jinja"\n' in text
    assert "LICENSE LICENSE NOTICE.md\n" in text
    assert "# Left out, not model files: README.md\n" in text
    assert "# Left out, GGUF files that cannot be read (see `modeloci inspect FILE`): broken.gguf\n" in text
    _assert_canonical_and_buildable(folder, cli)


def test_an_incomplete_shard_set_is_drafted_and_lint_names_the_gap(tmp_path: Path, cli) -> None:
    folder = tmp_path / "shards"
    for number in (0, 2):
        factories.gguf(folder / f"big-{number + 1:05d}-of-00003.gguf", split=(number, 3))
    text = _draft(folder, cli)
    assert "WEIGHTS big-*-of-00003.gguf\n" in text
    assert "# The weights: a set of 3 GGUF shards, packaged in shard order (2 present: lint names\n" in text
    lint = cli("lint", "-f", str(folder / "Modelfile"))
    assert lint.code == 2 and "big-00002-of-00003.gguf" in lint.stderr


def test_an_embedded_template_is_explained_instead_of_a_file(tmp_path: Path, cli) -> None:
    folder = tmp_path / "embedded"
    factories.gguf(folder / "m.gguf", metadata=[("tokenizer.chat_template", STRING, "{{ messages }}")])
    text = _draft(folder, cli)
    assert "CHAT_TEMPLATE" not in text.replace("# No CHAT_TEMPLATE", "")
    assert "# No CHAT_TEMPLATE: the weights embed one (tokenizer.chat_template), which runtimes use.\n" in text


def test_an_existing_modelfile_is_kept_unless_forced(tmp_path: Path, cli) -> None:
    folder = _copy(EXAMPLES / "single-gguf", tmp_path / "m")
    (folder / "Modelfile").write_text("# mine\n")
    result = cli("init", str(folder))
    assert result.code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert (folder / "Modelfile").read_text() == "# mine\n"
    printed = cli("init", str(folder), "--stdout")
    assert printed.code == 0 and printed.stdout.startswith("# A first Modelfile for m,")
    assert (folder / "Modelfile").read_text() == "# mine\n"
    assert cli("init", str(folder), "--force").code == 0
    assert (folder / "Modelfile").read_text() == printed.stdout


def test_json_output(tmp_path: Path, cli) -> None:
    folder = _copy(EXAMPLES / "sharded-vision", tmp_path / "v")
    result = cli("init", str(folder), "--json")
    doc = InitOutput.model_validate_json(result.stdout)
    assert (doc.weights, doc.mmproj, doc.chat_template, doc.licenses) == (
        "tiny-vision-*-of-00002.gguf", "mmproj-tiny-vision-F16.gguf", None, ["LICENSE.txt"])
    assert doc.modelfile == str(folder / "Modelfile") and doc.text == (folder / "Modelfile").read_text()


def test_a_folder_without_weights_is_an_error(tmp_path: Path, cli) -> None:
    (tmp_path / "README.md").write_text("nothing here\n")
    result = cli("init", str(tmp_path))
    assert result.code == 2
    assert result.stderr.startswith(f"error: no model weights in `{tmp_path}`\nhelp: init looks for GGUF files")
    assert not (tmp_path / "Modelfile").exists()


def test_a_model_name_with_a_line_break_adds_no_directive_to_the_draft(tmp_path: Path, cli) -> None:
    """A GGUF's general.name went into the draft as a comment and a LABEL: a line break in it ended the comment
    and started a directive line of the weights' author's choosing."""
    factories.gguf(tmp_path / "model.gguf",
                   metadata=[("general.name", factories.STRING, "Tiny\nCONFIG context_size=1\n#")])
    assert cli("init", str(tmp_path)).code == 0
    draft = (tmp_path / "Modelfile").read_text()
    assert "Tiny" not in draft and "context_size" not in draft
    formatted = format_modelfile(draft.encode(), path="Modelfile")
    assert formatted.diagnostics == ()
    keywords = [line.split()[0] for line in draft.splitlines() if line and not line.startswith("#")]
    assert keywords == ["FROM", "WEIGHTS"]
