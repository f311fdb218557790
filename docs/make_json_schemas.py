"""Write docs/json/COMMAND.schema.json: the JSON Schema of what each command prints with ``--json``.

The schemas are exported from the strict pydantic models in tests/workflow/schemas.py, the contract the tests
hold every command's output to (``extra="forbid"``: a key added, renamed or dropped fails them). Run
``python docs/make_json_schemas.py`` after changing one; tests/docs/test_json_schemas.py fails while a file
here is stale, missing or left over.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schemas() -> dict[str, str]:
    """File name -> text, for every command and the failure document."""
    sys.path.insert(0, str(HERE.parent))  # the repository: tests.workflow.schemas
    from tests.workflow.schemas import COMMAND_SCHEMAS, FAILURE_SCHEMA

    files = {}
    for name, model in [*COMMAND_SCHEMAS.items(), FAILURE_SCHEMA]:
        what = "fails" if name == "failure" else f"`modeloci {name} --json`"
        schema = {"$schema": DIALECT, **model.model_json_schema(by_alias=True, mode="serialization")}
        schema["title"] = f"modeloci {name}" if name != "failure" else "modeloci failure"
        schema.setdefault("description", "")
        schema["description"] = (f"What {what} prints on stdout." if name != "failure" else
                                 "What any command run with --json prints on stdout when it fails.") + (
            f" {schema['description']}" if schema["description"] else "")
        files[f"{name}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return files


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    wanted = schemas()
    for stale in sorted({p.name for p in FOLDER.glob("*.schema.json")} - set(wanted)):
        (FOLDER / stale).unlink()
    for name, text in wanted.items():
        (FOLDER / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} schemas into {FOLDER}")


if __name__ == "__main__":
    main()
