"""Messages onto the delivery queue: a platform event fanned out to every matching webhook
(``fanout``), the service's own operational notices (``notices``), and replays of messages
already delivered or given up (``replays``)."""
