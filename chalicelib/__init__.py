"""The webhook service's logic; ``app.py`` only hands each Lambda input to it.

- ``api/``: the HTTP edge and the methods behind it (webhook.*, the delivery log's, erasure's),
  with their input checks, token rate limits and idempotent dispatch.
- ``dispatch/``: how messages get onto the delivery queue: a platform event fanned out to its
  webhooks, the service's own notices, replays.
- ``delivery/``: the worker and what it uses: the queue's message, the HTTP client with its
  deadline, destination checks and signature, the delivery log, admission (fair share, a
  receiver's rate) and endpoint health.
- ``store/``: the DynamoDB table's keys and records: webhooks, tokens, erasures.

At the top level, what all of them share: the type catalog, occurrences (what happened, and
the body a delivery of it carries), errors, IDs, settings, strict JSON and identifier checks,
logs and traces, and ``services`` (the clients and stores, made once per Lambda container).
``tokens`` is the token command line, ``console`` the web console's files.
"""
