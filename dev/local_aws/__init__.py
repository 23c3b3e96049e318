"""The local run's AWS backend: moto behind a server that suits the local run.

- ``server.py``: the waitress server and its command line (``python -m dev.moto_server``);
- ``long_polls.py``: one request at a time inside moto, SQS long polls waiting outside it;
- ``corrections.py``: where moto answers differently from AWS in what the service relies on
  (SQS FIFO's order within a message group, its receipt handles' expiry and its five minutes of
  deduplication; DynamoDB's idempotent transactions), moto corrected; in the local run and the
  tests alike, switched off with ``LOCAL_MOTO_CORRECTIONS=off``;
- ``patches.py``: small speed-ups of moto's internals, for the pinned moto version only, and
  switched off with ``LOCAL_MOTO_PATCHES=off``;
- ``state.py``: the local run's data, saved to a file and loaded back.
"""
