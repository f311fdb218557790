"""The documents in ``docs/`` are kept true by running them.

``docs/modelfile.md``: every code in ``CODES`` has a ``### MFxxx — <its CODES text>`` section
holding a ``modelfile bad MFxxx`` and a ``modelfile good MFxxx`` block, and every such block is
planned with ``modeloci plan`` (or ``modeloci lint``, in-process) in a fresh build context made from
its ``# context:``, ``# store:``, ``# command:`` and ``# options:`` lines (the doc's "How the examples are
checked" explains them; :func:`make_file` is the one place that knows what each file is). A bad block must give its
code and no other, as an error (MF0xx) or a warning (MF1xx); a good block must give no error and
not that code. Plain ``modelfile good`` blocks (the reference examples) must plan without errors.

``docs/formats.md``: every media type it names exists in the code, and every media type the
formats write is named. ``docs/ci.md``: every ``modeloci ...`` command line uses commands and
options that exist in the click command tree.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from modeloci import api
from modeloci.cli import cli as command_tree
from modeloci.formats import docker, modelpack
from modeloci.modelfile import CONFIG_KEYS, DIRECTIVES
from modeloci.modelfile.codes import CODES
from tests import factories
from tests.registry.conftest import registry, registry_binary  # noqa: F401 - fixtures for `# registry:` examples

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SOURCES = REPO / "src" / "modeloci"

_DIAGNOSTIC = re.compile(r"^(error|warning)\[(MF\d{3})\]", re.M)
_CODE_HEADING = re.compile(r"^### (MF\d{3}) — (.+)$")
_ENTRY = re.compile(r"^(?P<name>.+?)(?: \((?P<kind>[^)]*)\))?$")
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")
_BYTE = re.compile(rb"\\x([0-9a-fA-F]{2})(?:\{(\d+)\})?")


# Reading the documents -------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A fenced block: its info string, its text, its line in the document and the heading above it."""

    info: str
    text: str
    line: int
    heading: str


def read_doc(name: str) -> tuple[list[str], list[Block]]:
    """The headings (outside code blocks) and the fenced blocks of ``docs/<name>``."""
    lines = (DOCS / name).read_text(encoding="utf-8").split("\n")
    headings: list[str] = []
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            text = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(lines[i][3:].strip(), text, i + 1, headings[-1] if headings else ""))
            i = end + 1
            continue
        if lines[i].startswith("#"):
            headings.append(lines[i])
        i += 1
    return headings, blocks


@dataclass(frozen=True)
class Example:
    """A ``modelfile good|bad [MFxxx] [bytes]`` block of docs/modelfile.md."""

    verdict: str
    code: str | None
    raw: bool
    block: Block

    @property
    def section(self) -> str | None:
        match = _CODE_HEADING.match(self.block.heading)
        return match[1] if match else None

    @property
    def id(self) -> str:
        return f"{self.code or 'reference'}-line{self.block.line}"


def modelfile_examples() -> list[Example]:
    found = []
    for block in read_doc("modelfile.md")[1]:
        words = block.info.split()
        if words[:1] == ["modelfile"] and len(words) > 1 and words[1] in ("good", "bad"):
            code = next((w for w in words[2:] if re.fullmatch(r"MF\d{3}", w)), None)
            found.append(Example(words[1], code, "bytes" in words, block))
    return found


def code_sections() -> dict[str, str]:
    """``MFxxx`` -> the heading's text after the dash, for every ``### MFxxx — ...`` heading."""
    headings = read_doc("modelfile.md")[0]
    return {m[1]: m[2] for m in map(_CODE_HEADING.match, headings) if m}


EXAMPLES = modelfile_examples()
BAD = [e for e in EXAMPLES if e.verdict == "bad"]
GOOD = [e for e in EXAMPLES if e.verdict == "good"]


def _param(example: Example):
    return pytest.param(example, id=example.id)


# Making the build context an example names -----------------------------------------------------

TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
TEMPLATES = {
    "": TEMPLATE,
    "syntax error": "{% for m in messages %}\n  {{ m['content'] }\n{% endfor %}\n",
    "render error": "{{ messages[0]['content'] + 1 }}\n",
    "raises": "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}" + TEMPLATE,
}
BASE_MODELFILE = "FROM scratch\nWEIGHTS base.gguf\nLICENSE LICENSE\nCONFIG context_size=4096\n"


def base_source(tmp: Path) -> Path:
    """The Modelfile of the small model every base in the examples is: a GGUF, a license, context_size 4096."""
    source = tmp / "base-source"
    if not source.is_dir():
        factories.gguf(source / "base.gguf")
        (source / "LICENSE").write_text("MIT License\n")
        (source / "Modelfile").write_text(BASE_MODELFILE)
    return source / "Modelfile"


def container_image(path: Path) -> None:
    """An OCI archive of a (layerless) container image: an OCI image, but not a model."""
    def descriptor(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [],
                           "config": descriptor("application/vnd.oci.image.config.v1+json", config)}).encode()
    index = {"schemaVersion": 2, "manifests": [descriptor("application/vnd.oci.image.manifest.v1+json", manifest)]}
    with tarfile.open(path, "w") as tar:
        for name, data in {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode(),
                           **{f"blobs/sha256/{hashlib.sha256(b).hexdigest()}": b for b in (config, manifest)}}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_gguf(path: Path, kind: str) -> None:
    shard, split = _SHARD.search(path.name), re.fullmatch(r"split (\d+) of (\d+)", kind)
    if kind == "truncated":
        path.write_bytes(factories.gguf_bytes()[:40])
    elif trained := re.fullmatch(r"trained on (\d+)", kind):
        factories.gguf(path, metadata=[("llama.context_length", factories.UINT32, int(trained[1]))])
    elif kind == "with a chat template":
        factories.gguf(path, metadata=[("tokenizer.chat_template", factories.STRING, "{{ messages }}")])
    elif split or shard:
        number, total = (int(split[1]), int(split[2])) if split else (int(shard[1]), int(shard[2]))
        factories.gguf(path, split=(number - 1, total))
    elif "mmproj" in path.name:
        factories.mmproj(path)
    else:
        factories.gguf(path)


def make_file(context: Path, entry: str, tmp: Path) -> None:
    """Create one ``# context:`` entry: ``NAME`` or ``NAME (KIND)``; a NAME ending in ``/`` is a folder."""
    match = _ENTRY.match(entry)
    assert match, entry
    name, kind = match["name"], match["kind"] or ""
    path = context / name.rstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind.startswith("symlink to "):
        target = context / kind.removeprefix("symlink to ")
        make_file(target.parent, target.name, tmp)
        path.symlink_to(os.path.relpath(target, path.parent))
    elif kind == "fifo":
        os.mkfifo(path)
    elif name.endswith("/"):
        api.build(base_source(tmp), layout=path) if kind == "model layout" else path.mkdir(exist_ok=True)
    elif kind == "text":
        path.write_text("This is not what it seems.\n")
    elif path.suffix == ".gguf":
        write_gguf(path, kind)
    elif path.suffix == ".safetensors":
        path.write_bytes(b"\x10" + b"\x00" * 7 + b"not json") if kind == "truncated" else factories.safetensors(path)
    elif path.suffix == ".jinja":
        path.write_bytes(b"\xabchat\xbb {{ messages }}" if kind == "latin-1" else
                         TEMPLATE.encode().ljust(2 << 20) if kind == "2 MiB" else TEMPLATES[kind].encode())
    elif path.suffix == ".json":
        path.write_text("{not json" if kind == "not json" else "{}")
    elif path.suffix == ".tar":
        container_image(path) if kind == "container image" else api.build(base_source(tmp), path)
    else:
        path.write_text(f"{name}: Apache License 2.0\n")


def settings(text: str) -> dict[str, list[str]]:
    """The ``# context:``, ``# store:``, ``# command:`` and ``# options:`` comment lines of an example."""
    found: dict[str, list[str]] = {"context": [], "store": [], "command": [], "options": [], "registry": []}
    for line in text.splitlines():
        key, sep, value = line.removeprefix("# ").partition(":")
        if line.startswith("# ") and sep and key in found:
            found[key].append(value.strip())
    return found


def source_bytes(example: Example) -> bytes:
    """The Modelfile's bytes; in a ``bytes`` block ``\\xNN`` is the byte NN and ``\\xNN{N}`` N of them."""
    data = example.block.text.encode("utf-8")
    if not example.raw:
        return data
    return _BYTE.sub(lambda m: bytes([int(m[1], 16)]) * int(m[2] or 1), data)


def publish(names: list[str], tmp: Path, cli, request: pytest.FixtureRequest) -> dict[bytes, bytes]:
    """Push a small model to a real registry under each ``localhost:5000/REPO:TAG``; what to put in the
    Modelfile for ``localhost:5000`` and ``DIGEST``."""
    if not names:
        return {}
    server = request.getfixturevalue("registry")
    replacements = {b"localhost:5000": server.host.encode()}
    archive = tmp / "published.tar"
    assert cli("build", "-f", str(base_source(tmp)), "-o", str(archive), "-q").code == 0
    for name in names:
        pushed = cli("push", str(archive), name.replace("localhost:5000", server.host), "-q", "--json")
        assert pushed.code == 0, pushed.stderr
        replacements[b"DIGEST"] = json.loads(pushed.stdout)["digest"].encode()
    return replacements


def run_example(example: Example, tmp: Path, cli,
                request: pytest.FixtureRequest) -> tuple[int, list[tuple[str, str]], str]:
    """Plan (or lint) the example in a new build context; the exit code, (severity, code) pairs and stderr."""
    context = tmp / "context"
    context.mkdir()
    wanted = settings(example.block.text)
    for entry in ",".join(wanted["context"]).split(","):
        if entry.strip():
            make_file(context, entry.strip(), tmp)
    for name in wanted["store"]:
        assert cli("build", "-f", str(base_source(tmp)), "-t", name).code == 0
    data = source_bytes(example)
    for placeholder, value in publish(wanted["registry"], tmp, cli, request).items():
        data = data.replace(placeholder, value)
    (context / "Modelfile").write_bytes(data)
    verb = (wanted["command"] or ["plan"])[0]
    assert verb in ("plan", "lint"), f"`# command: {verb}`: examples run `plan` or `lint`"
    result = cli(verb, "-f", "Modelfile", *shlex.split(" ".join(wanted["options"])), cwd=context)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    return result.code, _DIAGNOSTIC.findall(result.stderr), result.stderr


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store and digest cache of this test's own, whatever conftest does."""
    monkeypatch.setenv("MODELOCI_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "store"


# docs/modelfile.md -----------------------------------------------------------------------------


def test_every_code_has_a_section() -> None:
    missing = sorted(set(CODES) - set(code_sections()))
    assert not missing, f"codes in CODES without a `### MFxxx — ...` section in docs/modelfile.md: {missing}"


def test_every_section_is_a_code() -> None:
    unknown = sorted(set(code_sections()) - set(CODES))
    assert not unknown, f"docs/modelfile.md documents codes that are not in CODES: {unknown}"


def test_section_headings_say_what_codes_says() -> None:
    wrong = {code: (title, CODES[code]) for code, title in code_sections().items()
             if code in CODES and title.replace("`", "") != CODES[code].replace("`", "")}
    assert not wrong, f"headings that differ from CODES (heading, CODES), backticks aside: {wrong}"


def test_every_section_has_a_bad_and_a_good_example() -> None:
    for code in code_sections():
        verdicts = {e.verdict for e in EXAMPLES if e.code == code}
        assert verdicts == {"bad", "good"}, \
            f"### {code} needs a `modelfile bad {code}` and a `modelfile good {code}` block"
    misplaced = [(e.code, e.block.line) for e in EXAMPLES if e.code and e.code != e.section]
    assert not misplaced, f"examples outside their code's section (code, line): {misplaced}"


@pytest.mark.parametrize("example", [_param(e) for e in BAD])
def test_bad_example_gives_exactly_its_code(example: Example, tmp_path: Path, cli, store: Path, request) -> None:
    assert example.code, f"line {example.block.line}: a bad example names its code: ```modelfile bad MFxxx"
    code, found, stderr = run_example(example, tmp_path, cli, request)
    severity = "warning" if example.code >= "MF100" else "error"
    assert found, f"no diagnostic at all:\n{stderr}"
    assert found == [(severity, example.code)] * len(found), stderr
    assert code == (2 if severity == "error" else 0), stderr


@pytest.mark.parametrize("example", [_param(e) for e in GOOD])
def test_good_example_plans_cleanly(example: Example, tmp_path: Path, cli, store: Path, request) -> None:
    code, found, stderr = run_example(example, tmp_path, cli, request)
    assert code == 0, stderr
    assert not [c for severity, c in found if severity == "error" or c == example.code], stderr


def test_the_sample_diagnostic_is_what_plan_prints(tmp_path: Path, cli, store: Path, request) -> None:
    (sample,) = [b.text for b in read_doc("modelfile.md")[1] if b.heading == "## Diagnostics" and b.info == "text"]
    (mf003,) = [e for e in BAD if e.code == "MF003"]
    assert run_example(mf003, tmp_path, cli, request)[2].startswith(sample), \
        "the sample under ## Diagnostics is out of date"


def test_every_directive_and_config_key_is_documented() -> None:
    headings, _ = read_doc("modelfile.md")
    text = (DOCS / "modelfile.md").read_text(encoding="utf-8")
    for keyword in DIRECTIVES:
        assert f"### `{keyword}`" in headings, f"no `### `{keyword}`` section in docs/modelfile.md"
    for key in CONFIG_KEYS:
        assert f"| `{key}` |" in text, f"CONFIG key `{key}` is not in the CONFIG keys table"


# docs/formats.md -------------------------------------------------------------------------------

_MEDIA_TYPE = re.compile(r"application/vnd\.[A-Za-z0-9.+_-]*[A-Za-z0-9]")
_ANNOTATION = re.compile(r"org\.(?:cncf|cnai|opencontainers)\.[A-Za-z0-9.+_-]*[A-Za-z0-9]")


def _source_text() -> str:
    files = [SOURCES / "oci" / "mediatypes.py", SOURCES / "oci" / "manifest.py",
             *sorted((SOURCES / "formats").glob("*.py"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_formats_media_types_and_annotations_exist_in_the_code() -> None:
    text, source = (DOCS / "formats.md").read_text(encoding="utf-8"), _source_text()
    for pattern in (_MEDIA_TYPE, _ANNOTATION):
        names = set(pattern.findall(text))
        assert names, f"docs/formats.md names nothing like {pattern.pattern}"
        unknown = sorted(n for n in names if f'"{n}"' not in source)
        assert not unknown, f"docs/formats.md names strings the code does not have: {unknown}"


def test_formats_names_everything_the_formats_write() -> None:
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    written = {*map(str, docker.WEIGHT_MEDIA_TYPES.values()), *map(str, docker.ROLE_MEDIA_TYPES.values()),
               *map(str, docker.CONFIG_MEDIA_TYPES.values()), *modelpack.ROLE_MEDIA_TYPES.values(),
               modelpack.CONFIG_MEDIA_TYPE, modelpack.MANIFEST_ARTIFACT_TYPE,
               docker.ANNOTATION_FILEPATH, docker.ANNOTATION_METADATA, docker.ANNOTATION_UNTESTED}
    assert not sorted(w for w in written if f"`{w}`" not in text), "docs/formats.md misses some"
    for label, field in modelpack.LABEL_FIELDS.items():
        assert f"| `{label}` | `{field}` |" in text, f"LABEL {label} -> descriptor.{field} is not in the table"
    for name in [*DIRECTIVES, *CONFIG_KEYS, *docker.CONFIG_FIELDS, *modelpack.CONFIG_FIELDS]:
        assert f"`{name}`" in text, f"docs/formats.md does not mention `{name}`"


# docs/ci.md ------------------------------------------------------------------------------------


def command_lines(text: str) -> list[list[str]]:
    """Every ``modeloci ...`` invocation in ``text`` (shell or workflow ``run:`` lines), split into words."""
    text = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    text = re.sub(r"\$\{\{[^}]*\}\}|\$\([^)]*\)", "X", text)  # ${{ expressions }} and $(commands)
    found = []
    for raw in text.splitlines():
        line = re.sub(r"^\s*(?:-\s+)?run:\s*", "", raw).split(" #", 1)[0]
        for part in (p for p in re.split(r"&&|\|\||[|;]", line) if "modeloci" in p):
            words = shlex.split(part)
            while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)  # NAME=value before the command
            redirect = next((i for i, w in enumerate(words) if re.match(r"\d?[<>]", w)), len(words))
            if words[:1] == ["modeloci"]:
                found.append(words[1:redirect])
    return found


def check_command(words: list[str]) -> None:
    """``words`` (after ``modeloci``) name a command, and only its options, with the right arguments."""
    assert words and words[0] in command_tree.commands, f"`modeloci {' '.join(words)}`: no such command"
    command = command_tree.commands[words[0]]
    options = {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    positional, rest = 0, iter(words[1:])
    for word in rest:
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            assert name in options, f"`modeloci {words[0]}` has no option {name}"
            if not options[name].is_flag and "=" not in word:
                next(rest)
        else:
            positional += 1
    variadic = any(a.nargs == -1 for a in arguments)
    assert variadic or positional <= len(arguments), f"too many arguments: `modeloci {' '.join(words)}`"
    # A bare `modeloci verify` names the command; with anything after it, it is a whole command line.
    assert len(words) == 1 or positional >= sum(a.required for a in arguments), f"missing arguments: {words}"


def test_ci_workflow_builds_verifies_and_pushes() -> None:
    workflows = [b.text for b in read_doc("ci.md")[1] if b.info == "yaml"]
    assert len(workflows) == 1, "docs/ci.md holds one ```yaml workflow"
    workflow = workflows[0]
    for needed in ("on:", "jobs:", "runs-on:", "steps:", "actions/checkout@",
                   "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)", "--password-stdin"):
        assert needed in workflow, f"the workflow lacks {needed!r}"
    verbs = [words[0] for words in command_lines(workflow)]
    assert {"login", "build", "verify", "push"} <= set(verbs), verbs
    assert verbs.index("build") < verbs.index("verify") < verbs.index("push"), verbs
    try:
        import yaml
    except ImportError:  # not a dependency: the text checks above stand alone
        return
    steps = yaml.safe_load(workflow)["jobs"]
    assert all(isinstance(job["steps"], list) for job in steps.values())


def test_every_command_line_in_the_docs_exists() -> None:
    checked = 0
    for name in ("ci.md", "modelfile.md", "formats.md"):
        texts = [b.text for b in read_doc(name)[1] if not b.info.startswith("modelfile")]
        texts += [span.replace("\n", " ") for span in re.findall(r"`(modeloci [^`]+)`", (DOCS / name).read_text())]
        for words in (words for text in texts for words in command_lines(text)):
            check_command(words)
            checked += 1
    assert checked >= 10


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def test_links_between_the_docs_resolve() -> None:
    for name in ("modelfile.md", "formats.md", "ci.md"):
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", (DOCS / name).read_text(encoding="utf-8")):
            path = (DOCS / (target or name)).resolve()
            assert path.exists(), f"{name} links to {target}, which does not exist"
            assert not anchor or anchor in map(_anchor, read_doc(path.name)[0]), \
                f"{name}: no heading for {target}#{anchor}"
