"""Property-based API test: no generated request, valid or not, gets a 500.

Schemathesis reads the OpenAPI schema the app serves and generates requests
for every operation, anonymous and authenticated.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture
def _keep_test_connection():
    """Requests go straight to the WSGI app, which would close the connection that
    holds the test transaction; Django's own test client disconnects this too."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def bearer(_keep_test_connection, db, make_product, make_user):
    make_product()
    make_product("Toor Dal", stock=0)
    return {"Authorization": f"Bearer {RefreshToken.for_user(make_user('fuzz@example.com')).access_token}"}


@pytest.mark.django_db
@schema.parametrize()
# No example database: the run is derandomized, and the checkout may be read-only (dev container).
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_input_causes_a_server_error(case, bearer):
    for headers in (None, bearer):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
