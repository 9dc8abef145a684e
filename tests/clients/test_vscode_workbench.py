"""The VS Code extension in a real VS Code workbench: code-server 4.96.4 (VS Code 1.96.4 in the
browser, from npm: scripts/install-code-server.sh) with the extension's .vsix installed
(scripts/package-vscode.sh), driven by headless Chromium (Debian's /usr/bin/chromium through
playwright's bundled driver, as tests/e2e/test_tracking_ui.py; nothing downloads a browser).

A workspace folder holds the seed's train.py; `lensflow.server.python` is this checkout's
interpreter, in the remote window's (Machine) settings. The workbench shows the lenses above
`with mlflow.start_run():`, ▶ Track run turns the last-run lens into the seed's mse, Register
model makes the deploy lens offer the next step without an edit to the file, Cancel on the
"Lensflow: tracking a run" notification ends a slow run (KILLED, its processes gone), and a
`lensflow.server.python` that does not exist gives one notification that names the cause.

Everything listens on 127.0.0.1 only; the browser may fetch nothing but the workbench's own
origin. code-server runs in a process group of its own: it, the extension host, the language
server and whatever they started are killed at the end."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.node_tools import tool
from tests.conftest import REPO, SAMPLE
from tests.setup_jobs import wait_for

pytestmark = pytest.mark.slow

CODE_SERVER_VERSION = "4.96.4"
CODE_SERVER = REPO / ".cache" / "code-server" / CODE_SERVER_VERSION / "node_modules" / "code-server"
VSIX = REPO / ".cache" / "vscode" / "lensflow-vscode.vsix"
EXTENSION_ID = "lensflow.lensflow-vscode"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SEED_MSE = "3424.86"  # the seed Ridge's test mse, rounded as the lens shows it
WORKBENCH_MS = 60_000  # the workbench loads and the server starts
RUN_MS = 120_000  # a training run (mlflow's imports take seconds on a loaded machine)
STEP_MS = 60_000  # register, a lens refresh
CANCEL_S = 20  # Cancel clicked: the run is KILLED and its processes are gone
# A run that waits: it writes its own pid and its child's once it runs, then sleeps; only a
# cancel ends it within the test's time.
SLOW = """\
import os, subprocess, sys, time
import mlflow

with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open("pids.txt.part", "w") as out:
        out.write(f"{os.getpid()} {child.pid}")
    os.rename("pids.txt.part", "pids.txt")
    time.sleep(120)
"""
# The workbench as a test wants it: no welcome page, no tours, no gallery, no telemetry.
QUIET_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "update.mode": "none",
    "security.workspace.trust.enabled": False,
    "git.enabled": False,
    "editor.codeLens": True,
}


# --- processes ------------------------------------------------------------------------------
def descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc (the language server's children may sit in
    process groups of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM code-server's group and every descendant, then SIGKILL what is left."""
    everyone = descendants(process.pid) | {process.pid}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        for pid in everyone:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in everyone):
            time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        if not any(alive(p) for p in everyone):
            return
    left = [p for p in everyone if alive(p)]
    raise AssertionError(f"processes left after SIGKILL: {left}")


def working_in(root: Path) -> list[int]:
    """Processes whose working folder is under `root` (the language server, its store worker,
    a training run): whatever left code-server's tree would still show here."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")).is_relative_to(root) and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- code-server ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vsix() -> Path:
    """The extension's .vsix as its files are now (scripts/package-vscode.sh: a no-op when
    nothing changed since the last package). scripts/test.sh installs code-server and packages
    the .vsix in the background: this waits for that job first, failing with its log if it
    failed."""
    wait_for("vscode-workbench")
    tool("npm")
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "package-vscode.sh")],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, f"package-vscode.sh failed:\n{done.stdout}\n{done.stderr}"
    assert VSIX.is_file()
    return VSIX


class Workbench:
    """One code-server on 127.0.0.1 with its own user data, extensions and config, serving
    `folder`; the .vsix installed before it starts."""

    def __init__(self, root: Path, folder: Path, vsix: Path, server_python: str) -> None:
        entry = CODE_SERVER / "out" / "node" / "entry.js"
        assert entry.is_file(), (
            f"no code-server {CODE_SERVER_VERSION} in {CODE_SERVER.parent.parent}: "
            "run `bash scripts/install-code-server.sh`"
        )
        self.folder = folder
        self.log = root / "code-server.log"
        self.user_data = root / "user-data"
        extensions = root / "extensions"
        xdg = root / "xdg"
        for path in (self.user_data / "User", self.user_data / "Machine", extensions, xdg):
            path.mkdir(parents=True, exist_ok=True)
        (self.user_data / "User" / "settings.json").write_text(json.dumps(QUIET_SETTINGS))
        # The remote window's settings: where a remote window (code-server, Remote-SSH, WSL,
        # Codespaces) takes a machine setting from.
        (self.user_data / "Machine" / "settings.json").write_text(
            json.dumps({"lensflow.server.python": server_python})
        )
        self.port = free_port()
        config = root / "config.yaml"  # else code-server writes ~/.config/code-server/
        config.write_text(f"bind-addr: 127.0.0.1:{self.port}\nauth: none\ncert: false\n")
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(xdg / "config"),
            "XDG_DATA_HOME": str(xdg / "data"),
            "XDG_CACHE_HOME": str(xdg / "cache"),
            "NO_COLOR": "1",
        }
        env.pop("VSCODE_IPC_HOOK_CLI", None)
        self.base = [
            tool("node"), str(entry), "--config", str(config),
            "--user-data-dir", str(self.user_data), "--extensions-dir", str(extensions),
        ]  # fmt: skip
        installed = subprocess.run(
            [*self.base, "--install-extension", str(vsix)],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert installed.returncode == 0, (
            f"--install-extension:\n{installed.stdout}{installed.stderr}"
        )
        listed = subprocess.run(
            [*self.base, "--list-extensions", "--show-versions"],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert EXTENSION_ID in listed.stdout, listed.stdout + listed.stderr
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *self.base, "--bind-addr", f"127.0.0.1:{self.port}", "--auth", "none",
                    "--disable-telemetry", "--disable-update-check",
                    "--disable-workspace-trust", "--disable-getting-started-override",
                    str(folder),
                ],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}/?folder={folder}"
        deadline = time.monotonic() + 60
        while not self.answers():
            assert self.process.poll() is None, f"code-server exited:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"code-server not up:\n{self.log.read_text()}"
            time.sleep(0.2)

    def answers(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def server_output(self) -> str:
        """The extension host's logs, the Lensflow Server output channel among them."""
        texts = []
        for path in sorted((self.user_data / "logs").rglob("*.log")):
            with contextlib.suppress(OSError):
                texts.append(f"--- {path.relative_to(self.user_data)}\n{path.read_text()[-3000:]}")
        return "\n".join(texts)

    def close(self) -> None:
        stop(self.process)


@contextlib.contextmanager
def workbench(
    tmp_path: Path, vsix: Path, server_python: str, scripts: dict[str, str] | None = None
) -> Iterator[Workbench]:
    """A workbench on a folder with the seed's train.py and `scripts` (name: text)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(SAMPLE.read_text())
    for name, text in (scripts or {}).items():
        (folder / name).write_text(text)
    bench = Workbench(tmp_path / "code-server", folder, vsix, server_python)
    try:
        yield bench
    finally:
        bench.close()
        strays = working_in(tmp_path)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not strays, f"processes outlived code-server: {strays}"


# --- the browser ----------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def browser_page(bench: Workbench, profile: Path) -> AsyncIterator[Any]:
    """The workbench in headless Chromium, any request off its origin refused."""
    from playwright.async_api import async_playwright

    wait_for("system-packages")  # scripts/test.sh installs Chromium in the background
    assert CHROMIUM.exists(), "no /usr/bin/chromium: run `bash scripts/install-browser.sh`"
    origin = f"http://127.0.0.1:{bench.port}"
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1200},
        )  # fmt: skip
        try:

            async def local_only(route, request):  # type: ignore[no-untyped-def]
                if request.url.startswith((origin, "data:", "blob:")):
                    await route.continue_()
                else:
                    await route.abort()

            await context.route("**/*", local_only)
            page = await context.new_page()
            await page.goto(bench.url)
            await page.locator(".monaco-workbench").wait_for(timeout=WORKBENCH_MS)
            yield page
        finally:
            await context.close()


async def open_file(page: Any, name: str) -> None:
    """Quick Open (Ctrl+P), the file's name, Enter; then the editor shows it."""
    await page.locator(".monaco-workbench").click(position={"x": 700, "y": 500})
    await page.keyboard.press("Control+P")
    box = page.locator(".quick-input-widget input.input")
    await box.wait_for(timeout=WORKBENCH_MS)
    await box.fill(name)
    row = page.locator(".quick-input-list .monaco-list-row", has_text=name).first
    await row.wait_for(timeout=WORKBENCH_MS)
    await page.keyboard.press("Enter")
    await page.locator(f".tab[data-resource-name='{name}']").wait_for(timeout=WORKBENCH_MS)
    await page.locator(".monaco-editor .view-lines").first.wait_for(timeout=WORKBENCH_MS)


# A lens with a command is a link; one without (a title only, e.g. "No runs yet") a span.
LENSES = ".monaco-editor .codelens-decoration > :is(a, span)"


def lens(page: Any, title: str | re.Pattern[str]) -> Any:
    return page.locator(LENSES, has_text=title)


async def lens_titles(page: Any) -> list[str]:
    texts = await page.locator(LENSES).all_inner_texts()
    return [t.replace("\xa0", " ").strip() for t in texts]


async def wait_lens(page: Any, title: str | re.Pattern[str], timeout: float, what: str) -> Any:
    """The first lens named `title` once it shows; else a failure naming the lenses there are."""
    found = lens(page, title).first
    try:
        await found.wait_for(timeout=timeout)
    except Exception as exc:
        raise AssertionError(
            f"{what}: no lens {title!r}; lenses {await lens_titles(page)}"
        ) from exc
    return found


async def lens_line(page: Any, title: str) -> str:
    """The text of the editor line right below the lens named `title` (Monaco renders its
    spaces as no-break spaces)."""
    return str(
        await lens(page, title).first.evaluate(
            """a => {
                const bottom = a.getBoundingClientRect().bottom;
                const below = [...document.querySelectorAll('.view-lines .view-line')]
                    .map(l => [l.getBoundingClientRect().top, l.textContent])
                    .filter(([top]) => top >= bottom - 2)
                    .sort((x, y) => x[0] - y[0]);
                return below.length ? below[0][1] : '';
            }"""
        )
    ).replace("\xa0", " ")


async def run_command(page: Any, title: str) -> None:
    """A command from the palette (F1), by its title."""
    await page.keyboard.press("Escape")
    await page.keyboard.press("F1")
    box = page.locator(".quick-input-widget input.input")
    await box.wait_for(timeout=STEP_MS)
    await box.fill(f">{title}")
    row = page.locator(".quick-input-list .monaco-list-row", has_text=title).first
    await row.wait_for(timeout=STEP_MS)
    await page.keyboard.press("Enter")
    await box.wait_for(state="hidden", timeout=STEP_MS)


async def notification_texts(page: Any) -> list[str]:
    """Every notification, from the notification centre (toasts hide behind each other)."""
    await run_command(page, "Notifications: Show Notifications")
    center = page.locator(".notifications-center")
    await center.wait_for(timeout=STEP_MS)
    rows = center.locator(".notifications-list-container .monaco-list-row")
    return [t.strip() for t in await rows.all_inner_texts()]


# --- tests ----------------------------------------------------------------------------------
async def test_track_register_in_the_workbench(vsix: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with workbench(tmp_path, vsix, sys.executable, {"slow.py": SLOW}) as bench:
        async with browser_page(bench, tmp_path / "chromium") as page:
            try:
                await track_register_cancel(page, bench)
            except AssertionError as exc:  # what the server and the workbench said meanwhile
                toasts = await page.locator(".notification-toast").all_inner_texts()
                raise AssertionError(f"{exc}\ntoasts {toasts}\n{bench.server_output()}") from exc
    took = time.monotonic() - started
    assert took < 210, f"the workbench test took {took:.0f} s"


async def track_register_cancel(page: Any, bench: Workbench) -> None:
    await open_file(page, "train.py")
    track = await wait_lens(page, "▶ Track run", WORKBENCH_MS, "train.py opened")
    # (a) the lenses sit above `with mlflow.start_run():`
    assert (await lens_line(page, "▶ Track run")).strip() == "with mlflow.start_run():"
    await wait_lens(page, "No runs yet", STEP_MS, "no run yet")
    await wait_lens(page, "Register model (track a run first)", STEP_MS, "no run yet")
    await wait_lens(page, "Deploy (register the model first)", STEP_MS, "no run yet")

    # (b) ▶ Track run runs the script; the lens says how it ended and its mse.
    await track.click()
    title = f"Last run: ✓ FINISHED · mse={SEED_MSE}"
    await wait_lens(page, title, RUN_MS, "after ▶ Track run")
    # The run's output opened the panel over the lower lenses; lenses out of sight are
    # never resolved.
    await run_command(page, "View: Hide Panel")
    assert (await lens_line(page, "Last run:")).strip() == "with mlflow.start_run():"

    # (c) Register model: the deploy lens moves on without an edit to the file
    # (no cluster yet: its next step is the cluster; with one, Deploy itself).
    register = await wait_lens(
        page, re.compile(r"^Register model [\w.-]+$"), STEP_MS, "after the run"
    )
    assert await lens(page, "Deploy (register the model first)").count() == 1
    await click_until_it_runs(page, register, "registering the model", "Registered ")
    next_step = re.compile(r"^(Create cluster [\w.-]+|Deploy [\w.-]+ v1 to [\w.-]+)$")
    await wait_lens(page, next_step, STEP_MS, "after Register model, with no edit")
    assert await lens(page, "Deploy (register the model first)").count() == 0

    # (d) Cancel on the progress notification of ▶ Track run ends a slow run: the
    # server kills it and records it KILLED, and its processes are gone.
    await cancel_a_slow_run(page, bench.folder)


async def click_until_it_runs(page: Any, link: Any, progress: str, done: str) -> None:
    """Click a lens; a click that started nothing (no progress `Lensflow: <progress>`, no
    result toast `<done>…` within 15 s, as when the lens is redrawn under the pointer) is made
    again, once. Then the command's result toast shows."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    started = page.locator(
        ".notification-toast", has_text=re.compile(f"Lensflow: {progress}|{done}")
    )
    for attempt in (1, 2):
        await link.click()
        try:
            await started.first.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise AssertionError(f"two clicks on a lens started no '{progress}'") from None
    await page.locator(".notification-toast", has_text=done).first.wait_for(timeout=STEP_MS)


async def cancel_a_slow_run(page: Any, folder: Path) -> None:
    pids_file = folder / "pids.txt"
    await open_file(page, "slow.py")
    # slow.py's own lenses (train.py's last run is FINISHED)
    await wait_lens(page, "No runs yet", STEP_MS, "slow.py opened")
    await (await wait_lens(page, "▶ Track run", STEP_MS, "slow.py opened")).click()
    toast = page.locator(".notification-toast", has_text="Lensflow: tracking a run")
    cancel = toast.locator(".monaco-button", has_text="Cancel")
    try:
        await cancel.wait_for(timeout=STEP_MS)
    except Exception as exc:
        toasts = await page.locator(".notification-toast").all_inner_texts()
        raise AssertionError(f"no Cancel on 'Lensflow: tracking a run'; toasts {toasts}") from exc
    deadline = time.monotonic() + RUN_MS / 1000
    while not pids_file.exists():  # the script runs (past mlflow's imports)
        assert time.monotonic() < deadline, f"slow.py never ran; lenses {await lens_titles(page)}"
        await page.wait_for_timeout(200)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids), pids
    assert await cancel.is_visible(), "the progress notification ended before the run did"
    await cancel.click()
    clicked = time.monotonic()
    await wait_lens(page, re.compile(r"^Last run: ■ KILLED"), CANCEL_S * 1000, "after Cancel")
    while any(alive(p) for p in pids):
        left = [p for p in pids if alive(p)]
        assert time.monotonic() - clicked < CANCEL_S, f"slow.py's processes after Cancel: {left}"
        await page.wait_for_timeout(200)


async def test_bad_server_python_one_notification(vsix: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-venv" / "bin" / "python"
    with workbench(tmp_path, vsix, str(missing)) as bench:
        async with browser_page(bench, tmp_path / "chromium") as page:
            await open_file(page, "train.py")  # activates the extension (onLanguage:python)
            toast = page.locator(".notifications-toasts .notification-toast")
            await toast.first.wait_for(timeout=WORKBENCH_MS)
            # Every start the client would retry, and every notification, has had its time.
            await page.wait_for_timeout(15_000)
            texts = await notification_texts(page)
            assert len(texts) == 1, f"{len(texts)} notifications: {texts}"
            (text,) = texts
            assert "Lensflow" in text, text
            assert str(missing) in text or "ENOENT" in text or "No such file" in text, text
            assert await lens(page, "▶ Track run").count() == 0
