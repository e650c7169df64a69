"""Property-based requests generated from /openapi.json: no request may produce a server error."""

import schemathesis
from hypothesis import HealthCheck, given, settings

from vsearch.api import create_app


def test_no_request_is_a_server_error(ingested):
    library = ingested.library
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(library.settings, library=library))
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        no_server_error()
        checked.append(operation.path)
    assert {"/search", "/videos/{video_id}/file", "/clips/{clip_id}/thumbnail", "/health"} <= set(checked)
