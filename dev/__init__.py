"""Tools for running and checking the service on a laptop; not part of the Lambda bundle."""
