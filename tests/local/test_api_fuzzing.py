"""The published API description holding against a fuzzer (schemathesis) on the local run: no server
error, and no answer that breaks the document (chalicelib/openapi.yaml; its other checks are in
tests/tooling/test_openapi.py)."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "chalicelib" / "openapi.yaml"


def test_a_fuzzer_finds_no_server_error_and_no_answer_that_breaks_the_document(start_local_service, tmp_path):
    # Nothing private is reachable in this run: fuzzed URLs must not reach this machine.
    service = start_local_service(WEBHOOK_ALLOW_NETWORKS="", DELIVERY_TIMEOUT_SECONDS="1")
    service.wait_ready()
    examples = os.environ.get("FUZZ_EXAMPLES", "15")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(DOCUMENT), "--url", f"http://127.0.0.1:{service.port}",
         "--header", f"Authorization: Bearer {service.token}", "--checks", "all",
         # A schema cannot say which URLs resolve to public addresses, nor which IDs exist, so
         # schema-valid input may rightly be refused: that one check does not apply.
         "--exclude-checks", "positive_data_acceptance",
         "--max-examples", examples, "--seed", "20261127", "--request-timeout", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
