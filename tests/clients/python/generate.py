"""Generate Souk's Python client with openapi-python-client, and check it is complete.

Usage: python3 generate.py OPENAPI_JSON OUTPUT_DIR

OUTPUT_DIR becomes an importable package (its name is the directory's name, e.g. `souk_client`).
Fails (exit 1) when:
- the generator exits non-zero or prints any warning or error (every line it prints is shown);
- an operation of the document has no generated module: openapi-python-client writes one module
  per operation, `api/<tag>/<operation_id>.py`, and leaves out (with a warning) any operation it
  cannot express, so each operation's module must exist and call that operation's method and path.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def snake(name: str) -> str:
    """The generator's module name for an operationId or tag (Souk's are already snake_case)."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"[^a-zA-Z0-9]+", "_", name).strip("_").lower()


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    doc_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "openapi_python_client", "generate",
        "--path", str(doc_path),
        "--output-path", str(out),
        "--meta", "none",
        "--fail-on-warning",
    ]
    # Its post-generation hooks run `ruff` (a dependency): find it beside this interpreter.
    env = dict(os.environ, PATH=os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")]))
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = run.stdout.strip()
    # A clean run prints exactly one line, "Generating <dir>"; anything else is a finding.
    extra = [line for line in output.splitlines() if line.strip() and not line.startswith("Generating ")]
    if run.returncode != 0 or extra:
        print(f"openapi-python-client failed (exit {run.returncode}) or reported problems:", file=sys.stderr)
        print(output, file=sys.stderr)
        return 1

    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    expected = []  # (module path, METHOD, path)
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            op_id = op.get("operationId")
            if not op_id:
                print(f"{method.upper()} {path} has no operationId", file=sys.stderr)
                return 1
            tag = (op.get("tags") or ["default"])[0]
            expected.append((out / "api" / snake(tag) / f"{snake(op_id)}.py", method, path))

    missing = []
    for module, method, path in expected:
        if not module.is_file():
            missing.append(f"{method.upper()} {path}: no {module.relative_to(out)}")
            continue
        text = module.read_text(encoding="utf-8")
        if f'"method": "{method}"' not in text or f'"url": "{path}"' not in text:
            missing.append(f"{method.upper()} {path}: {module.relative_to(out)} does not call it")
        elif "def sync_detailed(" not in text:
            missing.append(f"{method.upper()} {path}: {module.relative_to(out)} has no sync_detailed")
    generated = {p for p in (out / "api").glob("*/*.py") if p.name != "__init__.py"}
    unexpected = sorted(str(p.relative_to(out)) for p in generated - {m for m, _, _ in expected})
    if missing or unexpected:
        print("the generated client does not match the document's operations:", file=sys.stderr)
        for line in missing:
            print(f"  missing {line}", file=sys.stderr)
        for line in unexpected:
            print(f"  unexpected {line}", file=sys.stderr)
        return 1
    print(f"python client: {len(expected)} operations generated, no generator warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
