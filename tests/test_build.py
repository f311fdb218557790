"""Building: atomic output, failures that keep the previous archive, and what the CLI prints."""

from __future__ import annotations

import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

from modeloci import api
from modeloci.blobs import engine
from modeloci.blobs.engine import BlobSource, FileState, copy_range
from modeloci.errors import BuildError
from tests.archive_tools import Archive, build_example, copy_example


def _strays(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".modeloci-"))


def _bytes_read() -> int:
    """Bytes this process has read through read() calls (Linux /proc/self/io ``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io to count bytes read")
def test_plan_reads_headers_not_weights(tmp_path: Path) -> None:
    """Planning a 64 GiB (sparse) model reads its header: kilobytes, not gigabytes."""
    import resource

    from tests import factories

    small = factories.gguf(tmp_path / "small.gguf")
    huge = tmp_path / "model" / "huge-F32.gguf"
    huge.parent.mkdir()
    huge.write_bytes(small.read_bytes())
    with huge.open("r+b") as f:
        f.truncate(64 << 30)
    (huge.parent / "Modelfile").write_text("FROM scratch\nWEIGHTS huge-F32.gguf\n")
    before_io, before_faults = _bytes_read(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    plan = api.plan(huge.parent / "Modelfile")
    read = _bytes_read() - before_io
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before_faults
    assert plan.layers[0].size == 64 << 30 and plan.config["architecture"] == "llama"
    assert read < 1 << 20, f"plan read {read} bytes"
    assert faults < 5000, f"plan touched {faults} pages"


def test_failed_build_keeps_the_previous_output_and_leaves_no_stray_file(tmp_path: Path, monkeypatch) -> None:
    output, _ = build_example("single-gguf", tmp_path)
    previous = output.read_bytes()
    real = engine.copy_range

    def fail_on_the_license(source, fd, offset, *args):
        if source.label == "LICENSE":
            raise BuildError("writing layer LICENSE: no space left on device")
        return real(source, fd, offset, *args)

    monkeypatch.setattr(engine, "copy_range", fail_on_the_license)
    monkeypatch.setattr("modeloci.blobs.sinks.copy_range", fail_on_the_license)
    with pytest.raises(BuildError):  # without the cache, so it writes: the output is up to date
        api.build(tmp_path / "single-gguf" / "Modelfile", output, cache=False)
    assert output.read_bytes() == previous
    assert _strays(output.parent) == []


def test_interrupted_build_keeps_the_previous_output(tmp_path: Path, monkeypatch) -> None:
    output, _ = build_example("single-gguf", tmp_path)
    previous = output.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("modeloci.blobs.sinks.copy_range", interrupt)
    with pytest.raises(KeyboardInterrupt):  # without the cache, so it writes: the output is up to date
        api.build(tmp_path / "single-gguf" / "Modelfile", output, cache=False)
    assert output.read_bytes() == previous
    assert _strays(output.parent) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to make a write fail with ENOSPC")
def test_disk_full_names_the_layer(tmp_path: Path) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"x" * 100_000)
    source = BlobSource(weights, 0, 100_000, "model.gguf", FileState.from_stat(os.stat(weights)))
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(BuildError) as info:
            copy_range(source, fd, 0)
    finally:
        os.close(fd)
    assert info.value.message == "writing layer model.gguf: no space left on device"


def test_input_that_changes_size_after_planning_fails_the_build(tmp_path: Path) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    plan = api.plan(modelfile)
    with (modelfile.parent / "LICENSE").open("a") as f:
        f.write("more")
    from modeloci.builder import build_archive

    with pytest.raises(BuildError, match="LICENSE: the file changed size"):
        build_archive(plan, tmp_path / "out.tar")
    assert not (tmp_path / "out.tar").exists()
    assert _strays(tmp_path) == []


def test_tampered_base_blob_fails_the_build(tmp_path: Path, cli) -> None:
    modelfile = copy_example("rebase", tmp_path)
    base = modelfile.parent / "base.tar"
    api.build(copy_example("single-gguf", tmp_path), base)
    data = bytearray(base.read_bytes())
    with tarfile.open(base) as tar:
        size = (tmp_path / "single-gguf/tiny-llama-F32.gguf").stat().st_size
        weights = next(m for m in tar.getmembers() if m.size == size)
    data[weights.offset_data + 100] ^= 0x01
    base.write_bytes(bytes(data))
    result = cli("build", "-f", str(modelfile), "-o", str(tmp_path / "out.tar"))
    assert result.code == 1
    assert "does not match its digest" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.tar").exists()


def test_build_json_output(tmp_path: Path, cli) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    result = cli("build", "-f", str(modelfile), "-o", str(tmp_path / "out.tar"), "-t", "tiny", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    archive = Archive.read(tmp_path / "out.tar")
    assert report["digest"] == archive.index["manifests"][0]["digest"]
    assert report["size"] == (tmp_path / "out.tar").stat().st_size
    assert report["output"] == str(tmp_path / "out.tar")
    assert report["reference"] == "tiny:latest"
    assert [layer["digest"] for layer in report["layers"]] == [layer["digest"] for layer in archive.manifest["layers"]]
    assert [layer["path"] for layer in report["layers"]] == ["tiny-llama-F32.gguf", "LICENSE", "chat_template.jinja"]
    assert archive.index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "tiny:latest"}


def test_plan_json_has_no_absolute_paths(tmp_path: Path, cli) -> None:
    copy_example("sharded-vision", tmp_path)
    result = cli("plan", "-f", "sharded-vision/Modelfile", "--json", cwd=tmp_path)
    assert result.code == 0
    assert str(tmp_path) not in result.stdout
    assert json.loads(result.stdout)["modelfile"] == "sharded-vision/Modelfile"
    assert json.loads(result.stdout)["layers"][0]["source"] == {"kind": "file",
                                                               "path": "tiny-vision-00001-of-00002.gguf"}


def test_plan_text_output(tmp_path: Path, cli) -> None:
    copy_example("sharded-vision", tmp_path)
    result = cli("plan", cwd=tmp_path / "sharded-vision")
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Plan for Modelfile"
    assert "mmproj-tiny-vision-F16.gguf" in result.stdout
    config = next(line for line in lines if line.startswith("config:"))
    assert config.startswith("config:  format=gguf quantization=MOSTLY_F16 parameters=152 architecture=llama")
    assert config.endswith("context_size=1024")


def test_created_option_and_source_date_epoch(tmp_path: Path, cli) -> None:
    modelfile = copy_example("single-gguf", tmp_path)
    out = tmp_path / "a.tar"
    assert cli("build", "-f", str(modelfile), "-o", str(out), "--created", "2025-06-15T12:00:00Z").code == 0
    assert Archive.read(out).config["descriptor"] == {"created": "2025-06-15T12:00:00Z"}
    assert cli("build", "-f", str(modelfile), "-o", str(out), env={"SOURCE_DATE_EPOCH": "1749988800"}).code == 0
    assert Archive.read(out).config["descriptor"] == {"created": "2025-06-15T12:00:00Z"}
    bad = cli("build", "-f", str(modelfile), "-o", str(out), env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.code == 2 and "SOURCE_DATE_EPOCH `yesterday`" in bad.stderr
    bad = cli("build", "-f", str(modelfile), "-o", str(out), "--created", "tomorrow")
    assert bad.code == 2 and "--created `tomorrow` is not a time" in bad.stderr


def test_build_arg_chooses_the_base(tmp_path: Path, cli) -> None:
    modelfile = copy_example("rebase", tmp_path)
    api.build(copy_example("single-gguf", tmp_path), modelfile.parent / "other.tar")
    result = cli("plan", "-f", str(modelfile), "--build-arg", "BASE=other.tar", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["base"]["path"] == "other.tar"
    missing = cli("plan", "-f", str(modelfile))
    assert missing.code == 2 and "error[MF048]: File `base.tar` not found" in missing.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["build"], "error: a model in the store needs a name"),
    (["build", "--no-store"], "error: --no-store leaves no output"),
    (["build", "-o", "x.tar", "--layout", "dir"], "error: give one output: -o OUT.tar or --layout DIR"),
    (["build", "-o", "x.tar", "--link"], "error: --link only applies to --layout"),
    (["build", "-o", "x.tar", "-t", "Bad Name"], "error: invalid model name `Bad Name`"),
    (["plan", "-f", "nope/Modelfile"], "error: Modelfile `nope/Modelfile` not found"),
    (["plan", "--build-arg", "UNSET_VARIABLE_FOR_TEST"], "error: --build-arg `UNSET_VARIABLE_FOR_TEST` has no value"),
    (["build", "--format", "zip", "-o", "x.tar"], "Invalid value for '--format'"),
])
def test_usage_errors_exit_2_without_traceback(tmp_path: Path, cli, args: list[str], message: str) -> None:
    copy_example("single-gguf", tmp_path)
    result = cli(*args, cwd=tmp_path / "single-gguf")
    assert result.code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_internal_errors_are_one_line_unless_debug(tmp_path: Path, cli, monkeypatch) -> None:
    copy_example("single-gguf", tmp_path)

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("modeloci.builder.build_archive", boom)
    result = cli("build", "-o", "x.tar", cwd=tmp_path / "single-gguf", internal_error_expected=True)
    assert result.code == 1
    assert "error: internal error: RuntimeError: kaboom" in result.stderr
    assert "Traceback" not in result.stderr
    debug = cli("--debug", "build", "-o", "x.tar", cwd=tmp_path / "single-gguf", internal_error_expected=True)
    assert debug.code == 1 and "Traceback" in debug.stderr


def test_python_dash_m_and_version() -> None:
    import subprocess

    run = subprocess.run([sys.executable, "-m", "modeloci", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "build" in run.stdout and "plan" in run.stdout
    version = subprocess.run([sys.executable, "-m", "modeloci", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "modeloci" in version.stdout


def test_public_api_names_resolve() -> None:
    import modeloci
    from modeloci.api import build, plan
    from modeloci.compiler import BuildPlan

    assert modeloci.plan is plan and modeloci.build is build and modeloci.BuildPlan is BuildPlan
    for name in modeloci.__all__:
        assert getattr(modeloci, name) is not None
    with pytest.raises(AttributeError):
        modeloci.not_a_name  # noqa: B018


@pytest.mark.parametrize("command", [("build",), ("build", "-t", "tiny:1"), ("build", "-o", "x.tar"), ("plan",)])
def test_a_missing_modelfile_is_said_to_be_missing_before_anything_else(tmp_path: Path, cli,
                                                                         command: tuple[str, ...]) -> None:
    """``build -f missing/Modelfile`` said "a model in the store needs a name": the options were judged first."""
    result = cli(*command, "-f", "missing/Modelfile", cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == ("error: Modelfile `missing/Modelfile` not found\n"
                             "help: name it with `-f PATH`, or give the folder that holds it\n")
    assert list(tmp_path.iterdir()) == []


def test_build_and_plan_take_a_folder_that_holds_a_modelfile(tmp_path: Path, cli) -> None:
    """``build DIR`` and ``plan DIR``, as lint and fmt take folders; ``-f DIR`` too; with -f, PATH is the context
    (``docker build -f FILE PATH``)."""
    folder = copy_example("single-gguf", tmp_path).parent
    direct = cli("build", "-f", str(folder / "Modelfile"), "-o", str(tmp_path / "direct.tar"), "-q")
    assert direct.code == 0, direct.stderr
    for args in ((str(folder),), ("-f", str(folder)), (str(folder / "Modelfile"),)):
        out = tmp_path / "by-path.tar"
        result = cli("build", *args, "-o", str(out), "-q")
        assert result.code == 0, (args, result.stderr)
        assert out.read_bytes() == (tmp_path / "direct.tar").read_bytes(), args
        plan = cli("plan", *args, "--json")
        assert json.loads(plan.stdout)["layers"] == json.loads(
            cli("plan", "-f", str(folder / "Modelfile"), "--json").stdout)["layers"]
    elsewhere = tmp_path / "modelfiles" / "Modelfile.tiny"
    elsewhere.parent.mkdir()
    elsewhere.write_text((folder / "Modelfile").read_text())
    context = cli("build", "-f", str(elsewhere), str(folder), "-o", str(tmp_path / "context.tar"), "-q")
    assert context.code == 0, context.stderr
    assert (tmp_path / "context.tar").read_bytes() == (tmp_path / "direct.tar").read_bytes()


@pytest.mark.parametrize(("args", "lines"), [
    (("-f", "single-gguf/Modelfile", "single-gguf/LICENSE"),
     ["error: `single-gguf/LICENSE` is not a folder", "help: with -f FILE, PATH is the build context: a folder"]),
    (("-f", "single-gguf/Modelfile", "single-gguf", "--context", "single-gguf"),
     ["error: give the build context once: PATH or --context"]),
    (("elsewhere",), ["error: Modelfile `elsewhere` not found",
                      "help: name it with `-f PATH`, or give the folder that holds it"]),
    (("-f", "empty"), ["error: `empty` is a directory with no Modelfile",
                       "help: give the folder that holds the Modelfile, or name the file with `-f PATH`"]),
], ids=["path-not-a-folder", "two-contexts", "missing-path", "folder-without-modelfile"])
def test_path_and_f_that_disagree_are_usage_errors(tmp_path: Path, cli, args: tuple[str, ...],
                                                   lines: list[str]) -> None:
    copy_example("single-gguf", tmp_path)
    (tmp_path / "empty").mkdir()
    for command in ("build", "plan"):
        result = cli(command, *args, "-o" if command == "build" else "--json",
                     *(("x.tar",) if command == "build" else ()), cwd=tmp_path)
        assert (result.code, result.stderr.splitlines()) == (2, lines), command
