"""Delivered bodies shaped by a template (contract, section 21): the bounded Mustache renderer,
the service's presets for chat tools, and a webhook's template as given, kept and applied.

Imported on first use only (by a templated webhook's delivery, or a method given a template),
so that no function's cold start pays for it.
"""
