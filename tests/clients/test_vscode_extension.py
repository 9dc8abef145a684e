"""The VS Code extension (client-sample/vscode): installed from its committed package-lock.json,
then type-checked (strict), linted (ESLint 9 + typescript-eslint), unit-tested under Node
(palette entries for every command of the committed schema, their argument objects validated
against it, error formatting, settings, status bar) and built. No VS Code is downloaded.

Its wire types (src/core/protocol.ts) are generated from the committed schema by the Node
client's generator and committed: the file must be exactly what the generator makes now."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.clients.node_tools import SCHEMA, check, tool
from tests.clients.node_tools import run as run_in
from tests.conftest import REPO

EXTENSION = REPO / "client-sample" / "vscode"
GENERATED = EXTENSION / "src" / "core" / "protocol.ts"


def run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # vsce's optional keytar would try a prebuilt binary from GitHub first: built from source
    # straight away (Debian's libsecret-1-dev, from scripts/install-code-server.sh).
    return run_in(
        [tool("npm"), *args], EXTENSION, timeout,
        LENSFLOW_SCHEMA=str(SCHEMA), npm_config_build_from_source="true",
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed() -> Path:
    """`npm ci` once: exactly the committed package-lock.json."""
    check(run("ci", "--no-audit", "--no-fund", timeout=300), "npm ci --no-audit --no-fund")
    return EXTENSION / "node_modules"


def test_typecheck(installed: Path) -> None:
    check(run("run", "typecheck", timeout=120), "npm run typecheck")


def test_lint(installed: Path) -> None:
    check(run("run", "lint", timeout=120), "npm run lint")


def test_unit_tests(installed: Path) -> None:
    done = run("test", timeout=120)
    check(done, "npm test")
    # Make sure tests did run: the spec reporter ends with "ℹ pass N" and "ℹ fail 0".
    passed = re.search(r"^\S* ?pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 0, done.stdout
    assert re.search(r"^\S* ?fail 0$", done.stdout, re.MULTILINE), done.stdout


def test_build(installed: Path) -> None:
    check(run("run", "build", timeout=120), "npm run build")
    assert (EXTENSION / "out" / "src" / "extension.js").is_file()


def test_generated_protocol_is_up_to_date(installed: Path) -> None:
    """The committed src/core/protocol.ts is byte for byte what `npm run gen` makes of the schema
    now."""
    done = run("run", "gen:check", timeout=120)
    check(done, "npm run gen:check (src/core/protocol.ts is stale: run `npm run gen`)")
    assert "is up to date" in done.stdout, done.stdout


def test_gen_check_fails_when_the_schema_changes(installed: Path, tmp_path: Path) -> None:
    """Drift is caught: a schema without RunInfo.runName no longer matches the committed file,
    and the check reports it without rewriting the file."""
    before = GENERATED.read_bytes()
    schema = json.loads(SCHEMA.read_text())
    del schema["$defs"]["RunInfo"]["properties"]["runName"]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(schema))
    done = run("run", "gen:check", "--", str(edited), timeout=120)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "run `npm run gen`" in done.stderr, done.stderr
    assert "runName" in done.stderr, done.stderr
    assert GENERATED.read_bytes() == before


def test_generator_is_the_node_clients(installed: Path) -> None:
    """One generator for both clients: the extension's script runs client-sample/node's, with
    the same json-schema-to-typescript (and prettier, which formats its output) locked."""
    script = (EXTENSION / "scripts" / "gen-protocol.mjs").read_text()
    assert '"node", "scripts", "gen-types.mjs"' in script
    assert "compile(" not in script  # no second copy of the generator's logic
    locks = [
        json.loads((REPO / "client-sample" / name / "package-lock.json").read_text())["packages"]
        for name in ("node", "vscode")
    ]
    for package in ("json-schema-to-typescript", "prettier"):
        node, vscode = (lock[f"node_modules/{package}"] for lock in locks)
        for key in ("version", "integrity"):
            assert vscode[key] == node[key], (package, key)


def test_package_is_one_clean_bundle(installed: Path, tmp_path: Path) -> None:
    """`npm run package`: vsce packages the esbuild bundle with the manifest, README and
    licence, nothing else (it was 221 unbundled files), and warns of nothing (it warned of no
    LICENSE, no repository field and the unbundled files)."""
    vsix = tmp_path / "lensflow.vsix"
    done = run("run", "package", "--", "-o", str(vsix), timeout=300)
    check(done, "npm run package")
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    with zipfile.ZipFile(vsix) as package:
        names = sorted(n for n in package.namelist() if n.startswith("extension/"))
        manifest = json.loads(package.read("extension/package.json"))
    assert names == [
        "extension/LICENSE.txt",
        "extension/dist/extension.js",
        "extension/package.json",
        "extension/readme.md",
    ], names
    assert manifest["main"] == "./dist/extension.js" and manifest["repository"]["url"]
    # The bundle loads under Node with only `vscode` left outside it.
    script = (
        "const Module = require('module'); const load = Module._load;"
        "Module._load = (r, ...a) => r === 'vscode' ? new Proxy({}, {get: () => class {}}) "
        ": load(r, ...a); const ext = require(process.argv[1]);"
        "if (typeof ext.activate !== 'function') process.exit(3);"
    )
    with zipfile.ZipFile(vsix) as package:
        package.extract("extension/dist/extension.js", tmp_path)
    loaded = run_in(
        [tool("node"), "-e", script, str(tmp_path / "extension" / "dist" / "extension.js")],
        EXTENSION, 60,
    )  # fmt: skip
    check(loaded, "node: require the bundle")
