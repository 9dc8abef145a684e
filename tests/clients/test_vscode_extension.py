"""The VS Code extension (client-sample/vscode): installed from its committed package-lock.json,
then type-checked (strict), linted (ESLint 9 + typescript-eslint), unit-tested under Node
(palette entries for every command of the committed schema, their argument objects validated
against it, error formatting, settings, status bar) and built. No VS Code is downloaded."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.clients.node_tools import SCHEMA, check, tool
from tests.clients.node_tools import run as run_in
from tests.conftest import REPO

EXTENSION = REPO / "client-sample" / "vscode"


def run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return run_in([tool("npm"), *args], EXTENSION, timeout, LENSFLOW_SCHEMA=str(SCHEMA))


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
