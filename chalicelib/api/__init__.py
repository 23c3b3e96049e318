"""The HTTP edge (``edge``) and the methods it calls: a method module registers its methods
(``registry``) on import. Here too are the checks of what a request carries (forms, receivers'
options, security headers), the per-token rate limits and idempotent ``webhook.dispatch``."""
