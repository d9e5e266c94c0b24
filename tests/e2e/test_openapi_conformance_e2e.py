"""docs/openapi.json is true of the running gateway: schemathesis generates requests from
it (valid and invalid ones, every undeclared method) and sends them through Envoy, with
the authentication the document declares; every answer must be declared (status,
content type, schema, headers), none may be a server error, a method the path does not
take answers 405 with Allow, and a call without its credential 401.

The gateway is one of its own (its own embedded Redis, so rate limits and keys the
fuzzing touches are nobody else's). `make test` runs a few cases per operation;
`make test-faults` 1,000 (PAYGATE_SCHEMATHESIS_EXAMPLES). PAYGATE_SCHEMATHESIS_PATHS, a
regular expression searched in each path, runs a share of the operations: the long
campaign takes minutes per operation on a loaded machine, so it can be made in parts
(docs/reliability.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "missing_required_header",
    "ignored_auth",
)
EXAMPLES = int(os.environ.get("PAYGATE_SCHEMATHESIS_EXAMPLES", "8"))
PATHS = os.environ.get("PAYGATE_SCHEMATHESIS_PATHS", "")


@pytest.fixture(scope="module")
def fuzzed_gateway(gateway_database_url: str) -> Iterator[Gateway]:
    # A loaded machine may take longer than the launcher's 60 s to start five processes.
    with running_gateway(gateway_database_url, redis_url="", start_budget=300.0) as running:
        yield running


def test_the_gateway_answers_as_its_openapi_document_says(
    fuzzed_gateway: Gateway, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run", str(OPENAPI),
        "--url", fuzzed_gateway.rest_url,
        "--header", f"Authorization: Bearer {fuzzed_gateway.secret_key}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--workers", "2",
        "--seed", os.environ.get("PAYGATE_SCHEMATHESIS_SEED", "20261206"),
        "--suppress-health-check", "all",
        "--request-timeout", "30",
        "--report", "ndjson",
        "--report-ndjson-path", str(tmp_path / "events.ndjson"),
    ]  # fmt: skip
    if PATHS:
        command += ["--include-path-regex", PATHS]
    # A budget for the campaign, not a timed assertion: three seconds a case, as the long
    # profile (1,000 cases per operation) takes hours on a loaded machine (at a load
    # average of 90 one second a case cut a part of three operations short).
    budget = float(
        os.environ.get("PAYGATE_SCHEMATHESIS_BUDGET", max(3000, 3 * EXAMPLES * len(_operations())))
    )
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=budget, check=False
    )
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    summary = output[-3000:]
    assert run.returncode == 0, summary
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert tested and cases, summary
    # Every operation of the document (or of its share) was exercised, every generated
    # case passed.
    assert int(tested.group(1)) == len(_operations()), summary
    assert cases.group(1) == cases.group(2), summary
    print(summary)  # the figures, for `pytest -s`
    print(_cases_per_operation(tmp_path / "events.ndjson"))


def _operations() -> list[tuple[str, str]]:
    import json

    paths = json.loads(OPENAPI.read_text())["paths"]
    return [
        (verb, path)
        for path, operations in paths.items()
        for verb in operations
        if re.search(PATHS, path)
    ]


def _cases_per_operation(events: Path) -> str:
    """Test cases (requests schemathesis checked) per operation, fewest first."""
    import json
    from collections import Counter

    counts: Counter[str] = Counter()
    for line in events.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished and finished.get("recorder"):
            label = finished["recorder"].get("label", "?")
            counts[label] += len(finished["recorder"].get("cases", {}))
    rows = sorted(counts.items(), key=lambda item: item[1])
    return "\n".join(f"{count:6d}  {label}" for label, count in rows)
