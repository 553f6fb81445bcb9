"""schemathesis over the OpenAPI schema: whatever a client sends, no 5xx and no response that breaks the schema.

Generated requests (valid and invalid by the schema) hit every operation through the ASGI app; each response must be
a documented status with a body that matches the documented schema, and never a server error.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gpuplan.api import ApiSettings, create_app

# A generous time budget so a slow CI machine never turns a search into a 503; the limit is tested in test_api.py.
app = create_app(ApiSettings(request_time_limit_s=120, max_parallel_jobs=2))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


# 10 examples per operation keeps the default suite fast (about 15 s); GPUPLAN_SCHEMATHESIS_EXAMPLES=200 runs deeper.
EXAMPLES = int(os.environ.get("GPUPLAN_SCHEMATHESIS_EXAMPLES", "10"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=CHECKS)
