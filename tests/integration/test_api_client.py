"""AurionClient against a real local HTTP server, so urllib3's Retry is exercised for real."""

from __future__ import annotations

import email.utils
import json
import logging
import pickle
import re
import time
from datetime import date

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from aurion_pipeline.config import ConfigError
from aurion_pipeline.source import (
    AurionApiError,
    AurionClient,
    AuthError,
    BadRequestError,
    MalformedResponseError,
    RedirectError,
    RetriesExhaustedError,
    ScopeError,
    UnexpectedStatusError,
    UnreachableError,
)
from aurion_pipeline.source.retry import BudgetedRetry

KEY = "ak_test_SECRET123"
DETAILS = "/api/v1/usage/details"
SUMMARY = "/api/v1/usage/summary"
ROW = {"date": "2026-03-01", "voice_minutes": 45, "api_calls": 1850,
       "llm_tokens": {"input": 125000, "output": 42000}}
MAR_1, MAR_8 = date(2026, 3, 1), date(2026, 3, 8)


@pytest.fixture
def make_client(httpserver: HTTPServer):
    """Client factory with tiny backoffs so retry tests take milliseconds, not minutes."""
    clients = []

    def make(base_url: str | None = None, **overrides) -> AurionClient:
        settings = dict(tenant="acme", api_key_env="AURION_API_KEY_ACME", timeout=(2, 5),
                        max_retries=3, backoff_factor=0.01, backoff_jitter=0,
                        retry_after_cap_s=2, retry_budget_s=10)
        settings.update(overrides)
        client = AurionClient(base_url or httpserver.url_for(""), KEY, **settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def other_origin(httpserver_ipv4: HTTPServer) -> HTTPServer:
    """A second server (127.0.0.1, another port): a different origin that must never see the key."""
    return httpserver_ipv4


@pytest.fixture
def private_server():
    """A threaded server of its own, for a test whose slow handler must not spill into the next."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def sequence(*responses: Response):
    """A handler answering with `responses` in order, repeating the last one."""
    remaining = list(responses)

    def handler(_request: Request) -> Response:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return handler


def json_response(payload: object, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, content_type="application/json")


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def requests_to(server: HTTPServer, path: str = DETAILS) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


# --- what is sent ---------------------------------------------------------------------------------


def test_every_request_carries_the_key_and_identifies_the_pipeline(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"data": [ROW]})

    assert make_client().get_details(MAR_1, MAR_8) == [ROW]

    (request,) = requests_to(httpserver)
    assert request.headers["X-API-Key"] == KEY
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("aurion-pipeline/")


@pytest.mark.parametrize("inclusive, sent_end", [
    pytest.param(True, "2026-03-08", id="inclusive-end-sent-as-is"),
    pytest.param(False, "2026-03-09", id="exclusive-api-gets-the-day-after"),
])
def test_details_query_asks_for_the_inclusive_window_by_day(httpserver, make_client, inclusive, sent_end):
    httpserver.expect_request(DETAILS).respond_with_json({"data": []})

    assert make_client(end_date_inclusive=inclusive).get_details(MAR_1, MAR_8) == []

    (request,) = requests_to(httpserver)
    assert request.args.to_dict() == {"start_date": "2026-03-01", "end_date": sent_end, "group_by": "day"}


def test_a_window_ending_before_it_starts_is_refused_without_a_request(httpserver, make_client):
    with pytest.raises(ValueError, match="is after end"):
        make_client().get_details(MAR_8, MAR_1)
    assert httpserver.log == []


def test_summary_is_returned_as_the_api_object(httpserver, make_client):
    summary = {"plan": "professional", "voice_minutes": {"used": 320, "limit": 1000}}
    httpserver.expect_request(SUMMARY).respond_with_json(summary)

    assert make_client().get_summary() == summary
    assert requests_to(httpserver, SUMMARY)[0].headers["X-API-Key"] == KEY


def test_client_refuses_a_missing_key_and_plain_http_to_a_remote_host():
    with pytest.raises(ConfigError, match="set AURION_API_KEY_ACME"):
        AurionClient("https://apps.aurionai.net", "", tenant="acme", api_key_env="AURION_API_KEY_ACME")
    with pytest.raises(ConfigError, match="use https"):
        AurionClient("http://apps.aurionai.net", KEY)


def test_client_repr_names_the_tenant_not_the_key(make_client):
    assert "acme" in repr(make_client()) and KEY not in repr(make_client())


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, headers", [
    pytest.param(429, {}, id="429-without-retry-after"),
    pytest.param(500, {}, id="500"),
    pytest.param(502, {}, id="502"),
    pytest.param(503, {}, id="503"),
    pytest.param(504, {"Retry-After": "not-a-date"}, id="504-with-unparseable-retry-after"),
])
def test_transient_status_then_200_is_retried_and_succeeds(httpserver, make_client, status, headers):
    httpserver.expect_request(DETAILS).respond_with_handler(
        sequence(json_response({"error": "busy"}, status, **headers), json_response({"data": [ROW]})))
    client = make_client()

    assert client.get_details(MAR_1, MAR_8) == [ROW]
    assert len(requests_to(httpserver)) == 2
    assert (client.requests_made, client.attempts) == (1, 2)


@pytest.mark.parametrize("retry_after", [
    pytest.param(lambda: "1", id="delta-seconds"),
    pytest.param(lambda: http_date(2), id="http-date"),
])
def test_429_waits_as_long_as_retry_after_says(httpserver, make_client, retry_after, monkeypatch):
    httpserver.expect_request(DETAILS).respond_with_handler(
        sequence(json_response({}, 429, **{"Retry-After": retry_after()}), json_response({"data": [ROW]})))
    waits: list[float] = []
    real_sleep = BudgetedRetry.sleep
    monkeypatch.setattr(BudgetedRetry, "sleep", lambda self, response=None: (
        waits.append(self.delay), real_sleep(self, response)))

    assert make_client(retry_after_cap_s=5).get_details(MAR_1, MAR_8) == [ROW]
    # Our own backoff would have been 0 s before the first retry: the wait is the header's
    # (an HTTP date two seconds ahead leaves one to two seconds by the time it is read).
    assert len(waits) == 1 and 0.9 <= waits[0] <= 2.0


@pytest.mark.parametrize("retry_after", [
    pytest.param(lambda: "3600", id="delta-seconds"),
    pytest.param(lambda: http_date(3600), id="http-date"),
])
def test_retry_after_above_the_cap_waits_only_the_cap(httpserver, make_client, retry_after):
    httpserver.expect_request(DETAILS).respond_with_handler(
        sequence(json_response({}, 429, **{"Retry-After": retry_after()}), json_response({"data": []})))

    started = time.monotonic()
    assert make_client(retry_after_cap_s=0.3).get_details(MAR_1, MAR_8) == []
    assert 0.3 <= time.monotonic() - started < 2


def test_503_forever_exhausts_retries_with_a_clear_error(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"error": "down"}, status=503)

    with pytest.raises(RetriesExhaustedError) as caught:
        make_client(max_retries=3).get_details(MAR_1, MAR_8)

    assert len(requests_to(httpserver)) == 4
    message = str(caught.value)
    assert "after 4 attempt(s)" in message and "retries used up" in message
    assert "HTTP 503, API said: down" in message and "AURION_MAX_WORKERS" in message and "'acme'" in message
    assert (caught.value.status, caught.value.endpoint, caught.value.tenant) == (503, DETAILS, "acme")


def test_backoff_doubles_between_retries_without_retry_after(httpserver, make_client):
    busy = json_response({}, 503)
    httpserver.expect_request(DETAILS).respond_with_handler(sequence(busy, busy, busy, json_response({"data": []})))

    started = time.monotonic()
    assert make_client(backoff_factor=0.1).get_details(MAR_1, MAR_8) == []
    # urllib3's schedule: 0 s before the first retry, then 0.2 s, then 0.4 s.
    assert 0.55 <= time.monotonic() - started < 1.5


def test_retry_budget_stops_retrying_before_max_retries(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({}, status=503, headers={"Retry-After": "1"})

    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError, match="retry time budget spent"):
        make_client(max_retries=100, retry_after_cap_s=0.2, retry_budget_s=0.5).get_details(MAR_1, MAR_8)

    # 0.2 s waits inside a 0.5 s budget: about 3 retries, far from 100.
    assert 2 <= len(requests_to(httpserver)) <= 5
    assert time.monotonic() - started < 2


def test_connection_refused_is_retried_once_then_names_the_url(make_client, closed_port):
    client = make_client(f"http://127.0.0.1:{closed_port}", max_retries=3)

    with pytest.raises(UnreachableError) as caught:
        client.get_details(MAR_1, MAR_8)

    assert client.attempts == 2
    assert f"at http://127.0.0.1:{closed_port} " in str(caught.value)
    assert "connection refused, 2 attempt(s)" in str(caught.value) and "AURION_BASE_URL" in str(caught.value)
    assert caught.value.status is None


def test_a_response_slower_than_the_read_timeout_is_retried_then_exhausted(private_server, make_client):
    def slow(_request: Request) -> Response:
        time.sleep(1)
        return json_response({"data": []})

    private_server.expect_request(DETAILS).respond_with_handler(slow)

    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError, match=r"after 2 attempt.*read timed out \(ReadTimeoutError\)"):
        make_client(private_server.url_for(""), timeout=(2, 0.1), max_retries=1).get_details(MAR_1, MAR_8)
    assert time.monotonic() - started < 0.8  # each attempt gave up at the 0.1 s read timeout, not after 1 s


# --- errors that are not retried -----------------------------------------------------------------


def test_401_says_the_key_was_rejected_and_where_it_comes_from(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"error": "invalid api key"}, status=401)

    with pytest.raises(AuthError) as caught:
        make_client().get_details(MAR_1, MAR_8)

    assert str(caught.value).startswith(
        "API key rejected (401) for tenant 'acme': check the key in AURION_API_KEY_ACME")
    assert len(requests_to(httpserver)) == 1


def test_403_names_the_missing_scope(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"detail": "forbidden"}, status=403)

    with pytest.raises(ScopeError, match="usage:read") as caught:
        make_client().get_details(MAR_1, MAR_8)
    assert caught.value.status == 403 and len(requests_to(httpserver)) == 1


@pytest.mark.parametrize("body, content_type, shown", [
    pytest.param('{"error": "end_date out of range"}', "application/json", "end_date out of range", id="error-field"),
    pytest.param('{"message": "bad group_by"}', "application/json", "bad group_by", id="message-field"),
    pytest.param('{"detail": "range too long"}', "application/json", "range too long", id="detail-field"),
    pytest.param('{"error": {"message": "nested reason"}}', "application/json", "nested reason", id="nested-error"),
    pytest.param("plain text reason", "text/plain", "plain text reason", id="text-body"),
    pytest.param("x" * 5000, "text/plain", "x" * 150, id="long-body-truncated"),
])
def test_400_carries_the_apis_own_message(httpserver, make_client, body, content_type, shown):
    httpserver.expect_request(DETAILS).respond_with_data(body, status=400, content_type=content_type)

    with pytest.raises(BadRequestError) as caught:
        make_client().get_details(MAR_1, MAR_8)

    assert shown in str(caught.value) and len(str(caught.value)) < 500
    assert len(requests_to(httpserver)) == 1


@pytest.mark.parametrize("status", [
    pytest.param(404, id="404-wrong-base-url"),
    pytest.param(409, id="409"),
    pytest.param(422, id="422"),
    pytest.param(501, id="501-not-in-the-retry-list"),
])
def test_other_error_statuses_are_not_retried(httpserver, make_client, status):
    httpserver.expect_request(DETAILS).respond_with_json({"error": "nope"}, status=status)

    with pytest.raises(UnexpectedStatusError, match=f"answered {status}") as caught:
        make_client().get_details(MAR_1, MAR_8)

    assert len(requests_to(httpserver)) == 1
    assert caught.value.status == status


@pytest.mark.parametrize("body, content_type, problem", [
    pytest.param("<html>maintenance</html>", "text/html", "not JSON (text/html", id="html-page"),
    pytest.param('{"data": [', "application/json", "not JSON", id="truncated-json"),
    pytest.param("[]", "application/json", "top level is a JSON array", id="top-level-list"),
    pytest.param("{}", "application/json", "data is missing", id="no-data"),
    pytest.param('{"data": {"date": "2026-03-01"}}', "application/json", "data is not a list", id="data-object"),
    pytest.param('{"data": [{"date": "x"}, 3]}', "application/json", "data[1] is not an object", id="row-number"),
])
def test_malformed_details_say_what_was_wrong(httpserver, make_client, body, content_type, problem):
    httpserver.expect_request(DETAILS).respond_with_data(body, content_type=content_type)

    with pytest.raises(MalformedResponseError, match=re.escape(problem)) as caught:
        make_client().get_details(MAR_1, MAR_8)
    assert caught.value.endpoint == DETAILS


def test_summary_that_is_not_an_object_is_malformed(httpserver, make_client):
    httpserver.expect_request(SUMMARY).respond_with_json([1, 2])

    with pytest.raises(MalformedResponseError, match="not an object") as caught:
        make_client().get_summary()
    assert caught.value.endpoint == SUMMARY


# --- redirects ------------------------------------------------------------------------------------


def test_same_origin_redirect_is_followed_with_the_key(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_data("", status=301, headers={"Location": "/v2/details?x=1"})
    httpserver.expect_request("/v2/details").respond_with_json({"data": [ROW]})
    client = make_client()

    assert client.get_details(MAR_1, MAR_8) == [ROW]
    assert requests_to(httpserver, "/v2/details")[0].headers["X-API-Key"] == KEY
    assert client.requests_made == 2


@pytest.mark.parametrize("target", [
    pytest.param("other-port", id="another-port"),
    pytest.param("other-hostname", id="127.0.0.1-instead-of-localhost"),
    pytest.param("https", id="https-on-the-same-port"),
    pytest.param("scheme-relative", id="scheme-relative-to-another-host"),
])
def test_redirect_to_another_origin_is_refused_and_never_gets_the_key(httpserver, other_origin, make_client, target):
    port = httpserver.port
    location = {"other-port": other_origin.url_for("/steal"),
                "other-hostname": f"http://127.0.0.1:{port}/steal",
                "https": f"https://localhost:{port}/steal",
                "scheme-relative": f"//127.0.0.1:{port}/steal"}[target]
    httpserver.expect_request(DETAILS).respond_with_data("", status=302, headers={"Location": location})
    other_origin.expect_request("/steal").respond_with_json({"data": []})

    with pytest.raises(RedirectError, match=r"Refused redirect to another host.*set AURION_BASE_URL"):
        make_client(base_url=f"http://localhost:{port}").get_details(MAR_1, MAR_8)

    assert other_origin.log == []
    assert requests_to(httpserver, "/steal") == []


def test_endless_same_origin_redirects_stop_after_five(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_data("", status=307, headers={"Location": DETAILS})

    with pytest.raises(RedirectError, match="More than 5 redirects"):
        make_client().get_details(MAR_1, MAR_8)
    assert len(requests_to(httpserver)) == 6


# --- pagination -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field, link", [
    pytest.param("next", "/api/v1/usage/details?cursor=p2", id="next-relative-path"),
    pytest.param("next", "?cursor=p2", id="next-relative-query"),
    pytest.param("next_url", "{base}/api/v1/usage/details?cursor=p2", id="next_url-absolute"),
    pytest.param("next_page", "{base}/api/v1/usage/details?cursor=p2", id="next_page-absolute"),
])
def test_next_link_pages_are_concatenated(httpserver, make_client, field, link):
    base = httpserver.url_for("").rstrip("/")
    second = dict(ROW, date="2026-03-02")
    httpserver.expect_request(DETAILS, query_string="cursor=p2").respond_with_json({"data": [second]})
    httpserver.expect_request(DETAILS).respond_with_json(
        {"data": [ROW], field: link.format(base=base), "has_more": True})
    client = make_client()

    assert client.get_details(MAR_1, MAR_8) == [ROW, second]
    assert client.requests_made == 2
    assert all(r.headers["X-API-Key"] == KEY for r in requests_to(httpserver))


def test_has_more_without_a_next_link_asks_for_smaller_windows(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"data": [ROW], "has_more": True})

    with pytest.raises(MalformedResponseError, match=r"has_more is true.*lower AURION_MAX_RANGE_DAYS"):
        make_client().get_details(MAR_1, MAR_8)


def test_next_link_to_another_host_is_not_followed(httpserver, other_origin, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"data": [ROW], "next": other_origin.url_for("/p2")})

    with pytest.raises(MalformedResponseError, match="another host"):
        make_client().get_details(MAR_1, MAR_8)
    assert other_origin.log == []


def test_next_link_back_to_a_page_already_read_is_a_loop(httpserver, make_client):
    httpserver.expect_request(DETAILS).respond_with_json({"data": [ROW], "next": "?cursor=same"})

    with pytest.raises(MalformedResponseError, match="already read"):
        make_client().get_details(MAR_1, MAR_8)
    assert len(requests_to(httpserver)) == 2


# --- the key never leaks --------------------------------------------------------------------------


def _scenario_status(status, body):
    return lambda server: server.expect_request(DETAILS).respond_with_json(body, status=status)


LEAK_SCENARIOS = [
    pytest.param(_scenario_status(401, {"error": f"bad key {KEY}"}), AuthError, id="401-echoing-the-key"),
    pytest.param(_scenario_status(403, {"error": f"{KEY} lacks usage:read"}), ScopeError, id="403-echoing-the-key"),
    pytest.param(_scenario_status(400, {"message": f"key={KEY}"}), BadRequestError, id="400-echoing-the-key"),
    pytest.param(_scenario_status(400, {"message": f"unknown key {KEY[:-3]}"}), BadRequestError,
                 id="400-echoing-the-key-minus-its-last-3-characters"),
    pytest.param(_scenario_status(503, {"error": f"key {KEY[2:-2]} throttled"}), RetriesExhaustedError,
                 id="503-echoing-the-middle-of-the-key"),
    pytest.param(_scenario_status(404, {"error": KEY}), UnexpectedStatusError, id="404-echoing-the-key"),
    pytest.param(_scenario_status(503, {"error": KEY}), RetriesExhaustedError, id="503-forever"),
    pytest.param(_scenario_status(200, {"data": KEY}), MalformedResponseError, id="malformed"),
    pytest.param(_scenario_status(200, {"data": [], "has_more": True}), MalformedResponseError, id="has-more"),
    pytest.param(lambda server: server.expect_request(DETAILS).respond_with_data(
        f"<p>{KEY}</p>", content_type="text/html"), MalformedResponseError, id="html-echoing-the-key"),
    pytest.param(lambda server: server.expect_request(DETAILS).respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.1:1/?k={KEY}"}), RedirectError, id="cross-host-redirect"),
    pytest.param(None, UnreachableError, id="connection-refused"),
]


def _exception_chain(exc: BaseException):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize("arrange, error_type", LEAK_SCENARIOS)
def test_the_key_appears_in_no_error_and_no_log(httpserver, make_client, closed_port, caplog, arrange, error_type):
    caplog.set_level(logging.DEBUG)
    if arrange is None:
        client = make_client(f"http://127.0.0.1:{closed_port}", max_retries=1)
    else:
        arrange(httpserver)
        client = make_client(max_retries=1)

    with pytest.raises(error_type) as caught:
        client.get_details(MAR_1, MAR_8)

    fragments = {KEY[i:i + 8] for i in range(len(KEY) - 7)}
    for exc in _exception_chain(caught.value):
        for text in (str(exc), repr(exc), repr(exc.args), repr(vars(exc))):
            assert not [f for f in fragments if f in text]
    assert not [f for f in fragments if f in caplog.text]
    assert caught.value.tenant == "acme" and caught.value.endpoint == DETAILS


def test_errors_survive_pickling_with_their_attributes():
    error = ScopeError("needs usage:read", tenant="acme", endpoint=DETAILS, status=403)

    copy = pickle.loads(pickle.dumps(error))

    assert (type(copy), str(copy), copy.tenant, copy.endpoint, copy.status) == \
        (ScopeError, "needs usage:read", "acme", DETAILS, 403)
    assert isinstance(copy, AurionApiError)


def test_the_environments_proxy_is_read_once_when_the_client_is_built(httpserver, monkeypatch):
    """requests would re-read the environment on every request; the client reads it once, and keeps
    honouring the proxy the user set (here a local server standing in for it)."""
    httpserver.expect_request(re.compile(".*")).respond_with_json({"data": [ROW]})
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/").rstrip("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = AurionClient("http://localhost:9", KEY, max_retries=0)  # nothing listens there: only the proxy answers
    monkeypatch.delenv("HTTP_PROXY")  # read at construction: a later change does not reach this client
    assert client.get_details(MAR_1, MAR_1) == [ROW]
    (request, _), = httpserver.log
    assert request.headers["X-API-Key"] == KEY and request.path == DETAILS


def test_no_proxy_still_bypasses_the_proxy(httpserver, monkeypatch):
    httpserver.expect_request(DETAILS).respond_with_json({"data": [ROW]})
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = AurionClient(httpserver.url_for("/").rstrip("/"), KEY, max_retries=0)
    assert client.get_details(MAR_1, MAR_1) == [ROW]
