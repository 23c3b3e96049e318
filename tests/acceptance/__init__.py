"""Acceptance: the public contract checked from outside, against the local run."""
