"""The DynamoDB table (one table; its keys in ``table``) and the records kept in it: webhooks
(``webhooks``), API tokens (``tokens``), and a person's erasures (``erasure``). The delivery
log's records are the worker's, in ``chalicelib.delivery.log``."""
