"""``make run``: the whole service on this machine, as one command.

It starts an embedded moto server (unless the settings point at real AWS), creates the stack's
resources from ``.chalice/resources.json``, routes the platform's EventBridge events to the
app's handler through a rule with the app's own event pattern, serves the API and console with
``chalice local`` on 127.0.0.1:$PORT, runs the local worker (the app's own Lambda handlers fed
from SQS), prints an admin token, and stops everything on Ctrl-C.

What moto holds (webhooks, tokens, the delivery log, queued messages and pending retries) is
kept in $LOCAL_STATE_DIR (default .local-state) and comes back on the next run; ``--fresh``
(``make run FRESH=1``) starts empty, and an empty LOCAL_STATE_DIR keeps nothing.
"""

import argparse
import ctypes
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
STACK_NAME = "inevent-webhooks"  # so the queue is the one app.py names
EVENTS_QUEUE = "inevent-local-platform-events"
EVENTS_RULE = "inevent-local-platform-events"
SERVICE_EVENTS_QUEUE = "inevent-local-service-events"  # what the service put on the bus (python -m dev.service_events)
STATE_FILES = "moto-*.pickle"  # one a moto server, in the state folder


def _die_with_parent():
    """Children get SIGTERM if this process dies, so nothing outlives the local run."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} stopped while starting (exit code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start within {timeout}s")


class LocalRun:
    def __init__(self, environ):
        self.env = dict(environ)
        self.children = []

    def start(self, args, name, quiet=False):
        """Start a child; a quiet one keeps its output to itself, but not its errors."""
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, start_new_session=True, preexec_fn=_die_with_parent,
                                   stdout=subprocess.DEVNULL if quiet else None)
        self.children.append((name, process))
        return process

    def stop(self):
        """Stop the children, the last started first, so the worker never outlives its backend."""
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def close_to_webhooks(self, port):
        """Keep a port of this run's own (its AWS backend, its API) out of webhooks' reach, though
        loopback is allowed: a webhook URL must not be a way to call the local AWS backend."""
        ports = [p for p in self.env.get("WEBHOOK_DENY_PORTS", "").split(",") if p.strip()]
        self.env["WEBHOOK_DENY_PORTS"] = ",".join(dict.fromkeys(ports + [str(port)]))

    def start_moto(self, state_dir=None):
        """Two moto servers: one for DynamoDB, one for SQS and EventBridge (whose rules deliver to
        SQS inside moto). Each takes one request at a time, so two use both cores. With a
        ``state_dir``, each loads its data from a file there and keeps saving it."""
        endpoints = {}
        for name, port in (("aws", self.env.get("MOTO_PORT")), ("dynamodb", None)):
            port = int(port or free_port())
            state = ["--state", str(state_dir / STATE_FILES.replace("*", name))] if state_dir else []
            server = self.start([sys.executable, "-m", "dev.moto_server", "-H", "127.0.0.1", "-p", str(port), *state],
                                f"moto ({name})", quiet=True)
            endpoints[name] = f"http://127.0.0.1:{port}"
            self.close_to_webhooks(port)
            wait_until_up(endpoints[name] + "/moto-api/", server, "the moto server")
        self.env.update(
            AWS_ENDPOINT_URL=endpoints["aws"],
            AWS_ENDPOINT_URL_DYNAMODB=endpoints["dynamodb"],
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=self.env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        return f"{endpoints['aws']} (DynamoDB: {endpoints['dynamodb']})"

    def create_stack(self):
        import boto3

        from dev.resources import create_resources, service_environment

        session = boto3.Session(region_name=self.env["AWS_DEFAULT_REGION"], aws_access_key_id="local",
                                aws_secret_access_key="local")
        kwargs = {"endpoint_url": self.env["AWS_ENDPOINT_URL"]}
        dynamodb = session.client("dynamodb", endpoint_url=self.env["AWS_ENDPOINT_URL_DYNAMODB"])
        created = create_resources(dynamodb, session.client("sqs", **kwargs),
                                   stack_name=STACK_NAME, region=self.env["AWS_DEFAULT_REGION"])
        self.env.update(service_environment(created))
        self.env["LOCAL_EVENTS_QUEUE_URL"] = self.route_platform_events(session, kwargs)
        self.route_service_events(session, kwargs)

    def route_platform_events(self, session, kwargs):
        """An EventBridge rule with the app's own pattern, delivering to a queue the worker polls."""
        import app as application

        (pattern,) = [source.event_pattern for source in application.app.event_sources
                      if getattr(source, "event_pattern", None)]
        sqs = session.client("sqs", **kwargs)
        url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = session.client("events", **kwargs)
        events.put_rule(Name=EVENTS_RULE, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=EVENTS_RULE, Targets=[{"Id": "local-worker", "Arn": arn}])
        return url

    def route_service_events(self, session, kwargs):
        """The service's own notices (source inevent.webhooks) kept on a queue of their own, where
        ``python -m dev.service_events`` shows them, as the platform's rule would take them."""
        from chalicelib.dispatch.notices import NOTICE_SOURCE

        sqs = session.client("sqs", **kwargs)
        url = sqs.create_queue(QueueName=SERVICE_EVENTS_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = session.client("events", **kwargs)
        events.put_rule(Name=SERVICE_EVENTS_QUEUE, EventPattern=json.dumps({"source": [NOTICE_SOURCE]}), State="ENABLED")
        events.put_targets(Rule=SERVICE_EVENTS_QUEUE, Targets=[{"Id": "service-events", "Arn": arn}])
        return url

    def admin_token(self):
        from chalicelib.api.webhook_methods import issue_token
        from chalicelib.ids import hash_token
        from chalicelib.services import get_services, reset_services
        from chalicelib.store.tokens import Grant

        os.environ.update(self.env)
        reset_services()
        tokens = get_services().tokens
        grant = Grant(admin=True, events=frozenset())
        given = self.env.get("INEVENT_DEV_TOKEN")
        if given:
            if tokens.get(hash_token(given)) is None:
                tokens.put(hash_token(given), grant, str(int(time.time())))
            return given
        return issue_token(tokens, grant, time.time())


# The local run's own settings: name, lowest and highest value.
LOCAL_SETTINGS = (
    ("PORT", 1, 65535),
    ("MOTO_PORT", 1, 65535),
    ("LOCAL_WORKER_CONCURRENCY", 1, 64),  # each poller holds a moto server thread while it waits
    ("LOCAL_VISIBILITY_TIMEOUT", 0, 43200),
    ("LOCAL_FUNCTION_TIMEOUT", 1, 900),
)


def check_local_settings(env):
    """Refuse a local setting that is not a whole number in its range, before anything starts
    (a worker that cannot read its settings would only be restarted again and again)."""
    for name, lowest, highest in LOCAL_SETTINGS:
        value = env.get(name) or ""
        if value and not (value.isascii() and value.isdigit() and lowest <= int(value) <= highest):
            raise SystemExit(f"setting error: {name} must be a whole number from {lowest} to {highest}, not {value!r}")


def state_folder(env, fresh=False):
    """The folder the local run keeps its data in (None: nothing is kept), emptied of the
    run's own files when ``fresh``."""
    value = env.get("LOCAL_STATE_DIR", str(ROOT / ".local-state"))
    if not value:
        return None
    from dev.local_aws.state import private_folder

    folder = private_folder(pathlib.Path(value).resolve())
    if fresh:
        for saved in folder.glob(STATE_FILES):  # only its own files: the folder may be the user's
            saved.unlink()
    return folder


def receivers(env):
    """The banner's line on where webhooks may point, and how to reach real endpoints."""
    allowed = env["WEBHOOK_ALLOW_NETWORKS"]
    if env.get("WEBHOOK_DESTINATIONS") == "allowed-only":
        return (f"{allowed or 'nowhere'} only (WEBHOOK_DESTINATIONS=allowed-only; "
                "set WEBHOOK_DESTINATIONS=public to reach real endpoints too)")
    return f"public addresses{' and ' + allowed if allowed else ' only'}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.run")
    parser.add_argument("--fresh", action="store_true", help="forget the data that earlier runs kept")
    fresh = parser.parse_args(argv).fresh
    run = LocalRun(os.environ)
    run.env.setdefault("WEBHOOK_ALLOW_NETWORKS", LOOPBACK_NETWORKS)  # an empty value counts as set
    # Nothing leaves this machine unless the developer says so (tests and benchmarks start this too).
    run.env.setdefault("WEBHOOK_DESTINATIONS", "allowed-only")
    check_local_settings(run.env)
    port = int(run.env.get("PORT") or 8000)
    run.close_to_webhooks(port)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} on 127.0.0.1 is in use: stop what runs there, or set PORT")
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # even where a shell started us with SIGINT ignored
    try:
        from chalicelib.errors import SettingsError
        from chalicelib.settings import Settings

        try:
            Settings.from_env(run.env)
        except SettingsError as exc:
            raise SystemExit(f"setting error: {exc}") from None
        own_aws = bool(run.env.get("WEBHOOKS_TABLE") and run.env.get("DELIVERY_QUEUE_URL"))
        state_dir = None if own_aws else state_folder(run.env, fresh)
        endpoint = "your AWS account" if own_aws else run.start_moto(state_dir)
        if not own_aws:
            run.create_stack()
        token = run.admin_token()
        worker = run.start([sys.executable, "-m", "dev.worker"], "worker")
        api = run.start([sys.executable, "-m", "dev.api_server", "--host", "127.0.0.1", "--port", str(port),
                         "--stage", "local"], "chalice local")
        wait_until_up(f"http://127.0.0.1:{port}/", api, "chalice local")
        print(
            f"\nInEvent webhooks is running\n"
            f"  API and console:  http://127.0.0.1:{port}/\n"
            f"  admin token:      {token}\n"
            f"  AWS backend:      {endpoint}\n"
            f"  data kept in:     {state_dir or 'memory only'}"
            f"{' (make run FRESH=1 starts afresh)' if state_dir else ''}\n"
            f"  to reach it from another shell (tokens CLI, aws events put-events):\n"
            f"    export AWS_ENDPOINT_URL={run.env.get('AWS_ENDPOINT_URL', '')} "
            f"AWS_ENDPOINT_URL_DYNAMODB={run.env.get('AWS_ENDPOINT_URL_DYNAMODB', '')} AWS_ACCESS_KEY_ID=local "
            f"AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={run.env.get('AWS_DEFAULT_REGION', '')} "
            f"WEBHOOKS_TABLE={run.env['WEBHOOKS_TABLE']}\n"
            f"  receivers may be on: {receivers(run.env)}\n"
            f"  worker pid:       {worker.pid}\n"
            f"Ready. Press Ctrl-C to stop.",
            flush=True,
        )
        while True:
            for index, (name, process) in enumerate(run.children):
                if process.poll() is None:
                    continue
                if name != "worker":
                    raise SystemExit(f"{name} stopped unexpectedly (exit code {process.returncode})")
                # As Lambda would start a new worker: what the dead one held comes back to it.
                run.children.pop(index)
                worker = run.start([sys.executable, "-m", "dev.worker"], "worker")
                print(f"worker stopped (exit code {process.returncode}); restarted as pid {worker.pid}", flush=True)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        run.stop()
    print("stopped.", flush=True)


if __name__ == "__main__":
    main()
