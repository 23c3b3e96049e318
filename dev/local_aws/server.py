"""The moto server that backs the local run: moto's own WSGI app on waitress, behind the
long-poll middleware (long_polls.py), made quicker by patches.py, its data kept by state.py.
It answers no cross-origin request: moto's global CORS is off.

The server is waitress, which keeps HTTP connections open between requests (werkzeug's
development server closes every one, so each AWS call paid for a new connection and thread).

With ``--state FILE`` the server loads what it held from FILE when it starts, and saves it
there after changes and when it gets SIGTERM. ``LOCAL_MOTO_PATCHES=off`` runs moto without its speed-ups,
``LOCAL_MOTO_CORRECTIONS=off`` without the corrections that make it answer as AWS does (corrections.py).

    python -m dev.moto_server -H 127.0.0.1 -p 5000 [--state .local-state/moto-aws.pickle]
"""

import argparse
import logging

import waitress
from moto.moto_server import werkzeug_app
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from dev.local_aws import corrections, patches, state
from dev.local_aws.long_polls import OneAtATime

SERVER_THREADS = 256  # long polls hold a thread each while they wait: room for many pollers
CONNECTION_LIMIT = 1000  # boto3 keeps its connections open; every client holds up to its pool size


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--state", help="load moto's data from this file, and keep saving it there")
    args = parser.parse_args(argv)
    corrections.apply()
    patches.apply()
    # moto answers CORS preflights from any origin: a web page in the developer's browser that
    # found the port could read the table (signing secrets) or write a token. Boto3 needs no CORS.
    # (moto reads MOTO_DISABLE_GLOBAL_CORS when it is imported; this is the same switch, set late.)
    werkzeug_app.DISABLE_GLOBAL_CORS = True
    logging.getLogger("waitress").setLevel(logging.ERROR)
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    if args.state:
        app.written = state.keep(args.state, app.lock).changed
    waitress.serve(app, host=args.host, port=args.port, threads=SERVER_THREADS, connection_limit=CONNECTION_LIMIT,
                   ident=None, _quiet=True, channel_request_lookahead=1)  # so a long poll can tell its client has gone

