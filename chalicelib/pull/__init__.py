"""Pull webhooks (contract, section 18): their messages kept in the order they were dispatched
(``log``), and read with ``webhook.poll`` (``poll``)."""
