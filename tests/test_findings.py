"""One findings type: a Modelfile's diagnostics, verify's and inspect's problems, the archive member policy and
the chat-template check all report :class:`modeloci.findings.Finding` (a severity, a message, a place)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from modeloci import api
from modeloci.diagnostics import Diagnostic, Position, Severity, Span
from modeloci.findings import Finding, Problem, errors
from modeloci.model.templates import check_chat_template
from modeloci.oci.safety import tar_problems
from modeloci.ops.inspect import inspect_model
from modeloci.ops.verify import verify
from tests import factories
from tests.archive_tools import copy_example
from tests.hostile_archives import Good, tampered_blob


def _said(finding: Finding) -> tuple[str, str, str | None]:
    """What any finding says (typed: mypy checks that each kind below is a Finding)."""
    return finding.severity, finding.message, finding.where


def test_a_diagnostic_is_a_finding() -> None:
    span = Span(Position(2, 9, 10), Position(2, 14, 15))
    diagnostic = Diagnostic("MF003", "Unknown directive `WIEGHTS`", "Modelfile", span, severity=Severity.WARNING)
    assert isinstance(diagnostic, Finding)
    assert _said(diagnostic) == ("warning", "Unknown directive `WIEGHTS`", "Modelfile:2:9")


def test_verify_s_problems_are_findings(tmp_path: Path) -> None:
    api.build(copy_example("single-gguf", tmp_path), tmp_path / "good.tar")
    report = verify(tampered_blob(Good.of(tmp_path / "good.tar"), tmp_path / "bad.tar"))
    assert report.problems and all(isinstance(p, Finding) for p in report.problems)
    assert [_said(p)[0] for p in errors(report.problems)] == ["error"]


def test_inspect_s_problems_are_findings(tmp_path: Path) -> None:
    factories.gguf(tmp_path / "m-00001-of-00002.gguf", split=(0, 2))
    (problem,) = inspect_model(tmp_path).problems
    assert isinstance(problem, Finding)
    assert _said(problem) == ("error", "shard `m-00002-of-00002.gguf` is missing", None)


def test_the_member_policy_s_refusals_are_findings_placed_at_the_member() -> None:
    member = tarfile.TarInfo("/etc/evil")
    (problem,) = tar_problems([member], 10_000)
    assert isinstance(problem, Problem) and isinstance(problem, Finding)
    assert _said(problem) == ("error", "`/etc/evil` has an absolute path", "/etc/evil")


def test_the_template_check_s_problems_are_findings() -> None:
    (syntax,) = check_chat_template("{% for m in messages %}{{ m }}")
    assert isinstance(syntax, Finding)
    severity, _, where = _said(syntax)
    assert severity == "error" and where is not None and where.startswith("line ")


def test_a_problem_s_json_leaves_out_an_unknown_place() -> None:
    assert Problem(message="x").model_dump() == {"severity": "error", "message": "x"}
    assert Problem(message="x", where="layer 2").model_dump() == {"severity": "error", "message": "x",
                                                                  "where": "layer 2"}
