"""The local run (``make run``'s ``python -m dev.run``), started as a user starts it, for the
end-to-end tests and the benchmarks."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "tok_e2e-admin"
# Settings that would point a started local run at someone else's backend, network or data:
# dropped from the environment it inherits (its ``settings`` may still give them).
NOT_INHERITED = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "WEBHOOKS_TABLE", "DELIVERY_QUEUE_URL",
                 "WEBHOOK_ALLOW_NETWORKS", "MOTO_PORT")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalService:
    """``python -m dev.run`` on ``port``. It keeps its data in ``LOCAL_STATE_DIR`` when ``env``
    names one, else in a folder of its own that no other run sees, so every run starts empty."""

    token = ADMIN_TOKEN

    def __init__(self, port, env):
        self.port = port
        self.lines = []
        if "LOCAL_STATE_DIR" not in env:
            self._state = tempfile.TemporaryDirectory(prefix="local-state-", ignore_cleanup_errors=True)
            env = {**env, "LOCAL_STATE_DIR": self._state.name}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dev.run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Ready."):
                self._ready.set()

    def wait_ready(self, timeout=90):
        if not self._ready.wait(timeout):
            raise AssertionError("the local run did not get ready:\n" + "".join(self.lines[-40:]))
        return "".join(self.lines)

    def call(self, name, token, **params):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{name}",
            data=json.dumps(params).encode(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, timeout=30):
        """Stop the local run (it stops its own children) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_local_service(settings=None, not_inherited=NOT_INHERITED):
    """A fresh local run on a free port, with this process's environment and ``settings`` on
    top, less ``not_inherited``. It keeps its data in the ``LOCAL_STATE_DIR`` that ``settings``
    name, else in a folder of its own (never the developer's)."""
    settings = settings or {}
    port = free_port()
    env = {**os.environ, "PORT": str(port), "INEVENT_DEV_TOKEN": ADMIN_TOKEN, "RETRY_SCHEDULE": "0s,1s,1s",
           "WEBHOOK_DESTINATIONS": "allowed-only", **settings}  # tests and benchmarks never send off this machine
    for name in not_inherited:
        if name not in settings:
            env.pop(name, None)
    if "LOCAL_STATE_DIR" not in settings:
        env.pop("LOCAL_STATE_DIR", None)
    return LocalService(port, env)
