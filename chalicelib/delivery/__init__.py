"""Delivery: the worker that the queue's batches reach (``worker``), the queued message
(``queue``), the HTTP client (``sender``, with one deadline per attempt in ``deadlines``, the
destination checks in ``destinations`` and the Standard Webhooks signature in ``signing``), the
delivery log (``log``), and what may hold a delivery back: ``hooks`` and its admissions (a fair
share of the capacity, a receiver's rate limit), and ``endpoint_health`` (disabling a webhook
that keeps failing)."""
