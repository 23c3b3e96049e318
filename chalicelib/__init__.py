"""The webhook service: methods, storage, fan-out and delivery."""
