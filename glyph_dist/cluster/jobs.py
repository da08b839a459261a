"""Ray jobs: a local head on loopback that stops cleanly, and submit-and-wait through the job API.

A head started by `LocalHead` lives in its own temp dir (so `ray.init()` elsewhere never finds it)
and its own process session (so `stop` ends exactly its processes, never another Ray on the host).
`submit_and_wait` talks to any dashboard, local or a cluster's, with the token-auth header Ray 2.60
expects, and submits with the runtime env of `job_env` (project root, commit, PATH).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from glyph_dist.errors import GlyphDistError
from glyph_dist.cluster import job_env

STATE_FILE = "head.json"
LOG_TAIL_LINES = 60


class JobFailedError(GlyphDistError):
    """A submitted job ended FAILED or STOPPED; `logs` holds everything the driver printed."""

    def __init__(self, submission_id: str, status: str, message: str, logs: str):
        self.submission_id, self.status, self.logs = submission_id, status, logs
        # Ray's message repeats the logs after its first line; the tail below has them.
        summary = message.split("\n", 1)[0].rstrip(":")
        super().__init__(f"job {submission_id} {status}: {summary}\n{_tail(logs)}")


def _tail(logs: str) -> str:
    return "--- last job logs ---\n" + "\n".join(logs.splitlines()[-LOG_TAIL_LINES:])


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports that are free on every interface right now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in sockets:
            sock.bind(("", 0))
        return [sock.getsockname()[1] for sock in sockets]


def auth_headers(token: str | None = None) -> dict[str, str]:
    """The bearer header for a token-auth cluster: `token`, else the one Ray finds
    (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token); empty where there is none.

    Passed explicitly, the header does not depend on this process's cached RAY_AUTH_MODE, so a
    driver already connected here (with its own auth mode) changes nothing.
    """
    if token is None:
        from ray._raylet import AuthenticationTokenLoader

        loader = AuthenticationTokenLoader.instance()
        if loader.has_token(ignore_auth_mode=True):
            token = loader.get_raw_token(ignore_auth_mode=True)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _ray_cli() -> str:
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise GlyphDistError("the `ray` command is not installed beside this Python or on PATH")
    return found


def _ensure_token() -> None:
    """Create the default token (~/.ray/auth_token) if Ray finds none, as `ray.init()` does."""
    from ray._raylet import AuthenticationTokenLoader

    loader = AuthenticationTokenLoader.instance()
    if not loader.has_token(ignore_auth_mode=True):
        subprocess.run([_ray_cli(), "get-auth-token", "--generate"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        loader.reset_cache()


def _session_members(session: int) -> dict[int, float]:
    """pid -> create time of every process in the given session."""
    members = {}
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session:
                members[proc.pid] = proc.create_time()
        except (psutil.Error, OSError):
            continue
    return members


class LocalHead:
    """A Ray head on 127.0.0.1 with the dashboard, in a fresh short temp dir.

    Use as a context manager, or `start()` / `stop()`; `LocalHead.load(temp_dir)` reattaches to
    one started elsewhere (the state is in `<temp_dir>/head.json`).
    """

    def __init__(self, num_cpus: int = 2, temp_dir: str | Path | None = None,
                 object_store_memory: int | None = None):
        # Unix socket paths (<temp_dir>/session_<stamp>/sockets/plasma_store) must stay under
        # ~107 bytes, so the default lives directly in /tmp rather than a test's tmp_path.
        self.temp_dir = Path(temp_dir or tempfile.mkdtemp(prefix="gd-", dir="/tmp"))
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.pids: dict[int, float] = {}  # pid -> create time, so a reused pid is never hit
        self.dashboard_url = ""
        self.address = ""

    @classmethod
    def load(cls, temp_dir: str | Path) -> LocalHead:
        """The head recorded in `temp_dir` by `start`."""
        temp_dir = Path(temp_dir)
        state_path = temp_dir / STATE_FILE
        if not state_path.is_file():
            raise GlyphDistError(f"no local head recorded in {temp_dir} (missing {STATE_FILE})")
        state = json.loads(state_path.read_text())
        head = cls(state["num_cpus"], temp_dir)
        head.pids = {int(pid): created for pid, created in state["pids"].items()}
        head.dashboard_url, head.address = state["dashboard_url"], state["address"]
        return head

    def start(self, timeout: float = 120.0) -> LocalHead:
        """Run `ray start --head` in a new process session; return once the job API answers."""
        gcs_port, dashboard_port, client_port, agent_port = free_ports(4)
        command = [
            _ray_cli(), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={client_port}",
            f"--dashboard-agent-listen-port={agent_port}", f"--temp-dir={self.temp_dir}",
            f"--num-cpus={self.num_cpus}", "--disable-usage-stats",
        ]
        if self.object_store_memory:
            command.append(f"--object-store-memory={self.object_store_memory}")
        _ensure_token()
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
        # Every head process (so every job driver) runs with token auth on. PATH is left as it
        # is: a job finds `glyph-dist` through the PATH its runtime env carries (job_env).
        env["RAY_AUTH_MODE"] = "token"
        # A new session: `ray start` leads it, and every daemon it spawns keeps its pid as their
        # session id, so the head's processes are exactly the members of that session.
        starter = subprocess.Popen(command, env=env, start_new_session=True, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        try:
            output, _ = starter.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            starter.kill()
            output, _ = starter.communicate()
        self.pids = _session_members(starter.pid)
        try:
            if starter.returncode != 0:
                raise GlyphDistError(f"`ray start --head` failed:\n{output}")
            self.address = (self.temp_dir / "ray_current_cluster").read_text().strip()
            self._write_state()
            self._wait_for_dashboard(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_state(self) -> None:
        state = {"pids": self.pids, "num_cpus": self.num_cpus,
                 "dashboard_url": self.dashboard_url, "address": self.address}
        (self.temp_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _wait_for_dashboard(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(f"{self.dashboard_url}/api/version", headers=auth_headers())
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise GlyphDistError(f"the dashboard at {self.dashboard_url} did not answer "
                                     f"within {timeout:.0f}s")
            time.sleep(0.5)

    def processes(self) -> list[psutil.Process]:
        """The recorded processes still alive, and their descendants: the workers the raylet
        starts later, and job drivers (which run in sessions of their own)."""
        found: dict[int, psutil.Process] = {}
        for pid, created in self.pids.items():
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - created) > 0.01:
                    continue
                found[pid] = proc
                found.update((child.pid, child) for child in proc.children(recursive=True))
            except psutil.Error:
                continue
        return list(found.values())

    def stop(self, grace: float = 5.0) -> None:
        """End the head's processes (raylet first, GCS last, as `ray stop` orders them: SIGTERM,
        then SIGKILL after `grace` seconds) and remove its temp dir."""
        procs = self.processes()

        def name(proc: psutil.Process) -> str:
            try:
                return proc.name()
            except psutil.Error:
                return ""

        raylets = [p for p in procs if name(p) == "raylet"]
        gcs = [p for p in procs if name(p) == "gcs_server"]
        others = [p for p in procs if p not in raylets and p not in gcs]
        for bucket in (raylets, others, gcs):
            for proc in bucket:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs(bucket, timeout=grace)
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            psutil.wait_procs(alive, timeout=2)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalHead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def submit_and_wait(dashboard_url: str, entrypoint: str, working_dir: str | Path,
                    runtime_env: dict[str, Any] | None = None, timeout: float = 600.0,
                    token: str | None = None, poll: float = 0.5, root: str | None = None) -> tuple[str, str]:
    """Submit `entrypoint` with `working_dir` uploaded (minus job_env.EXCLUDES and anything
    .gitignore'd) and `root` as the project root (default: `working_dir`), wait for it, return
    (status, logs).

    `runtime_env` adds to the environment (its `excludes` and `env_vars` extend the defaults).
    Raises JobFailedError with the logs when the job fails or is stopped, TimeoutError (after
    stopping the job) when it runs past `timeout` seconds.
    """
    from ray.job_submission import JobStatus, JobSubmissionClient

    url = dashboard_url.rstrip("/")
    if "://" not in url:
        raise GlyphDistError(f"the dashboard address needs a scheme: http://{url}")
    extra, base = dict(runtime_env or {}), job_env.runtime_env(working_dir, root)
    env = {**extra, "working_dir": base["working_dir"], "excludes": base["excludes"] + extra.get("excludes", []),
           "env_vars": {**base["env_vars"], **extra.get("env_vars", {})}}
    client = JobSubmissionClient(url, headers=auth_headers(token))
    if client.get_address() != url:
        raise GlyphDistError(f"asked for {url} but RAY_API_SERVER_ADDRESS / RAY_ADDRESS in the "
                             f"environment points the job client at {client.get_address()}")
    submission_id = client.submit_job(entrypoint=entrypoint, runtime_env=env)
    deadline = time.monotonic() + timeout
    while not (info := client.get_job_info(submission_id)).status.is_terminal():
        if time.monotonic() > deadline:
            client.stop_job(submission_id)
            raise TimeoutError(f"job {submission_id} still {info.status} after {timeout:.0f}s; "
                               f"stopped it\n{_tail(client.get_job_logs(submission_id))}")
        time.sleep(poll)
    logs = client.get_job_logs(submission_id)
    if info.status != JobStatus.SUCCEEDED:
        raise JobFailedError(submission_id, info.status.value, info.message or "", logs)
    return info.status.value, logs
