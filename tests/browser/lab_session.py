"""Helpers of the browser tests: start and stop a Jupyter server, call its REST API, run a notebook there."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("LAB2PROD_CHROMIUM", "/usr/bin/chromium"))
# what a person looks at after the tests: one PNG per page (docs/explanation/tests.md, "Browser tests")
SCREENSHOTS = Path(os.environ.get("LAB2PROD_SCREENSHOTS", "reports/browser"))
# the pipeline notebooks in pipeline order, then the scoring ones, then free exploration
# pipeline.yaml's notebook tasks, in order (they open with Ploomber's injected parameters)
PIPELINE = [
    "ingest",
    "validate",
    "split",
    "start",
    "train",
    "select",
    "evaluate",
    "check",
    "register",
    "report",
]
NOTEBOOKS = [
    *(f"notebooks/{n}.ipynb" for n in (*PIPELINE, "score", "score_summary", "monitor")),
    "notebooks/exploratory/credit_eda.ipynb",
]
# run through the server's REST API on the session's build: the scoring notebooks, which write the
# pages test_reports.py opens (score_summary's score-credit.html, monitor's monitoring.html), and the
# exploratory one, which nbval does not run (make test-notebooks runs the pipeline's and the scoring ones)
SERVER_RUNS = [
    "notebooks/score.ipynb",
    "notebooks/score_summary.ipynb",
    "notebooks/monitor.ipynb",
    "notebooks/exploratory/credit_eda.ipynb",
]
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    """A running Jupyter server: its project folder, base URL and token."""

    root: Path
    url: str
    token: str
    log: Path

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the REST API; return the decoded JSON answer."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            text = answer.read()
        return json.loads(text) if text else {}


def lab_env(root: Path) -> dict[str, str]:
    """The server's environment: the sample env for Ploomber, the copy's MLflow store, no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in ("LAB2PROD_ROOT", "JUPYTER_TOKEN")}
    env.update(
        PLOOMBER_ENV_FILENAME="env.test.yaml",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        MLFLOW_DISABLE_TELEMETRY="true",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        # the server's own folders: no workspace, setting or config of the machine's user leaks in
        JUPYTER_RUNTIME_DIR=str(root / ".jupyter" / "runtime"),
        JUPYTER_CONFIG_DIR=str(root / ".jupyter" / "config"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / ".jupyter" / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(root / ".jupyter" / "settings"),
        OMP_NUM_THREADS="1",
    )
    return env


def start_lab(root: Path, config: Path, log: Path) -> tuple[subprocess.Popen, Lab]:
    """Start `jupyter lab` on `root` with the Jupyter configuration `config`; return it once it answers."""
    port, token = free_port(), secrets.token_hex(16)
    # JupyterLab would ask, in a pop-up over the notebook, whether to fetch Jupyter's news
    news = root / ".jupyter" / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    command = [
        str(BIN / "jupyter"),
        "lab",
        f"--config={config}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--no-browser",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    out = log.open("w")
    process = subprocess.Popen(
        command, cwd=root, env=lab_env(root), stdout=out, stderr=subprocess.STDOUT
    )
    lab = Lab(root=root, url=f"http://127.0.0.1:{port}", token=token, log=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"jupyter lab exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            lab.api("GET", "/api/status")
            return process, lab
        except OSError:
            time.sleep(0.5)
    stop(process)
    raise AssertionError(f"jupyter lab did not answer in 120 s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Stop a server this module started (SIGTERM, then SIGKILL)."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


# ---- running a notebook through the server: a session, its kernel's websocket, one cell after the other


@dataclass
class CellRun:
    """What one code cell did: its index, the error it raised (or None) and its text output."""

    index: int
    error: str | None
    text: str = ""


@dataclass
class NotebookRun:
    """One notebook run through the REST API: its cells' results and whether the injected cell was there."""

    path: str
    cells: list[CellRun] = field(default_factory=list)
    injected: bool = False
    code_cells: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        return [f"cell {c.index}: {c.error}" for c in self.cells if c.error]


async def _execute(lab: Lab, kernel_id: str, sources: list[tuple[int, str]]) -> list[CellRun]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = lab.url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    request = HTTPRequest(ws_url, headers={"Authorization": f"token {lab.token}"})
    conn = await websocket_connect(request, max_message_size=256 * 1024 * 1024)
    session, runs = uuid.uuid4().hex, []
    try:
        for index, code in sources:
            msg_id = uuid.uuid4().hex
            await conn.write_message(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "session": session,
                            "username": "test",
                            "msg_type": "execute_request",
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {
                            "code": code,
                            "silent": False,
                            "store_history": True,
                            "user_expressions": {},
                            "allow_stdin": False,
                            "stop_on_error": True,
                        },
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            run, idle, replied = CellRun(index=index, error=None), False, False
            while not (idle and replied):
                raw = await asyncio.wait_for(conn.read_message(), timeout=600)
                if raw is None:
                    raise AssertionError("the kernel's websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "error":
                    run.error = f"{content['ename']}: {content['evalue']}"
                elif kind == "stream":
                    run.text += content["text"]
                elif kind in ("execute_result", "display_data"):
                    run.text += content.get("data", {}).get("text/plain", "")
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
                elif kind == "execute_reply":
                    replied = True
                    if content["status"] == "error" and not run.error:
                        run.error = f"{content.get('ename')}: {content.get('evalue')}"
            runs.append(run)
            if run.error:
                break
    finally:
        conn.close()
    return runs


def run_notebook(lab: Lab, path: str) -> NotebookRun:
    """Open `path` through the contents API (as JupyterLab does), run its code cells in a new session."""
    started = time.monotonic()
    model = lab.api("GET", f"/api/contents/{path}?content=1&type=notebook")
    cells = model["content"]["cells"]
    result = NotebookRun(
        path=path,
        injected=any(
            "injected-parameters" in (c.get("metadata", {}).get("tags") or []) for c in cells
        ),
    )
    sources = [
        (i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
        for i, c in enumerate(cells)
        if c["cell_type"] == "code"
    ]
    session = lab.api(
        "POST",
        "/api/sessions",
        {"path": path, "type": "notebook", "name": Path(path).name, "kernel": {"name": "python3"}},
    )
    try:
        # in a thread of its own: Playwright's sync API keeps an event loop running in this thread
        with ThreadPoolExecutor(1) as thread:
            result.cells = thread.submit(
                asyncio.run, _execute(lab, session["kernel"]["id"], sources)
            ).result()
    finally:
        lab.api("DELETE", f"/api/sessions/{session['id']}")
    result.code_cells = len(sources)
    result.seconds = time.monotonic() - started
    return result


def save_png(png: bytes, path: Path, colors: int = 96) -> Path:
    """Write a screenshot as a small palette PNG (a few tens of KB: fit to commit under docs/img)."""
    import io

    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=colors)
    tmp = path.with_suffix(".tmp.png")
    image.save(tmp, optimize=True)
    tmp.replace(path)
    return path


def start_mlflow_ui(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Start `mlflow ui` (as `make mlflow-ui` does) on the SQLite `store`, on a free port of 127.0.0.1.

    Return the process and its base URL once it answers; stop it with `stop`.
    """
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(BIN / "mlflow"),
        "ui",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{store}",
    ]
    out = log.open("w")
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlflow ui exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5):
                return process, base
        except OSError:
            time.sleep(0.5)
    stop(process)
    raise AssertionError(f"mlflow ui did not answer in 180 s:\n{log.read_text()}")
