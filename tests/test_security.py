"""Security: who may reach what, CSRF, input fuzzing, per-user limits, and secrets never shown."""

from __future__ import annotations

import base64
import importlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth.models import User
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import URLPattern, URLResolver, clear_url_caches, get_resolver, resolve
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_worker import reports, services
from analytics_worker.redis_client import redis_key
from analytics_worker.tasks import fetch_report_task
from dashboard.forms import FIELD_LABELS
from tests.drills.stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    DAY_QUERY,
    SECRET_KEY,
    Stack,
    migrate_template,
    running_stack,
)

# Open to anyone on purpose: the health checks (for monitors and load balancers), the login
# pages, and logout (it only ends the caller's own session).
OPEN_PATHS = {
    "/healthz",
    "/healthz/live",
    "/accounts/login/",
    "/admin/login/",
    "/accounts/logout/",
    "/admin/logout/",
}
# django.contrib.auth.urls is included whole, so its password-reset pages are open too, though
# no EMAIL_BACKEND is configured (a reset for a real address only logs an SMTP error). Proposed:
# include only login, logout and password_change in config/urls.py.
PASSWORD_RESET = re.compile(r"^/accounts/(password_reset/|reset/)")
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")
SIM_API_PATHS = {
    "/sim/api/v2/analytics/graphql": "post",
    "/sim/api/v2/analytics/conversations/details/query": "post",
    "/sim/api/v2/analytics/conversations/aggregates/query": "post",
    "/sim/api/v2/routing/queues": "get",
}
# The simulator's testing aids (genesys_sim/README.md): mounted only with the simulated org (see
# test_the_simulated_org_is_not_mounted_for_a_real_org), and then only with its bearer token
# and fault injection on (tests/genesys_sim/test_limits_and_faults.py).
SIM_TESTING_AIDS = {"/sim/_stats", "/sim/_reset", "/sim/_faults"}


# --- every URL pattern ----------------------------------------------------------------------------


def _sample(group_body: str) -> str:
    # A regex group's sample value: its first alternative if it lists words, else "1".
    if re.fullmatch(r"[\w|]+", group_body):
        return group_body.split("|")[0]
    return "1"


def sample_path(route: str) -> str:
    """A concrete path for a URL pattern: converters and regex groups filled with samples."""
    path = re.sub(r"\(\?P<\w+>([^()]*)\)", lambda m: _sample(m.group(1)), route)
    path = re.sub(r"<(?:\w+:)?\w+>", "1", path)
    return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


def site_paths() -> list[tuple[str, Callable[..., Any]]]:
    """(sample path, view) for every URL pattern the site serves."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield sample_path(prefix + str(pattern.pattern)), pattern.callback

    found = list(walk(get_resolver().url_patterns, ""))
    for path, view in found:
        # A sample that resolved elsewhere would test the wrong view.
        assert resolve(path).func is view, path
    return found


PATHS = site_paths()
PRODUCT_PATHS = sorted(path for path, _ in PATHS if not path.startswith("/sim/"))


def test_it_finds_every_part_of_the_site() -> None:
    paths = {path for path, _ in PATHS}
    for expected in ("/", "/api/report", "/refresh", "/healthz", "/metrics", "/admin/"):
        assert expected in paths
    assert SIM_TESTING_AIDS | set(SIM_API_PATHS) <= paths
    assert len(PATHS) > 30
    # No mail is configured, so no open password-reset pages either.
    assert not [path for path in paths if PASSWORD_RESET.match(path)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [path for path in PRODUCT_PATHS if path not in OPEN_PATHS],
)
def test_every_page_demands_a_login(client: Client, path: str) -> None:
    response = client.get(path)
    if response.status_code == 302:
        assert response["Location"].startswith(LOGIN_PAGES), response["Location"]
    else:
        assert response.status_code in (401, 403), response.status_code


@pytest.fixture
def root_client(db: None, settings, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A superuser, with Celery replaced by a list and no read cap in the way."""
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 1_000_000
    monkeypatch.setattr(fetch_report_task, "apply_async", lambda **_: None)
    monkeypatch.setattr(services, "queue_choices", lambda: [])
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root"))
    return client


@pytest.mark.parametrize("path", PRODUCT_PATHS)
def test_head_answers_wherever_get_does(root_client: Client, path: str) -> None:
    for client in (root_client, Client(raise_request_exception=False)):
        get = client.get(path)
        head = client.head(path)
        statuses = (path, get.status_code, head.status_code)
        assert (head.status_code == 405) == (get.status_code == 405), statuses
        # Django's own admin login redirects a GET, not a HEAD, of a user already logged in.
        if not path.startswith("/admin/"):
            assert head.status_code == get.status_code, statuses
        assert head.content == b""


@pytest.mark.parametrize("path", PRODUCT_PATHS)
def test_no_proxy_may_keep_what_a_logged_in_user_sees(root_client: Client, path: str) -> None:
    for response in (root_client.get(path), root_client.post(path)):
        assert "private" in response.get("Cache-Control", ""), (path, response.status_code)
        assert "public" not in response["Cache-Control"]


def test_exports_are_never_stored(root_client: Client) -> None:
    for path in ("/export.csv", "/export.json"):
        response = root_client.get(f"{path}?{DAY_QUERY}")
        assert response.status_code == 409  # not loaded: the header holds for every answer
        assert {"private", "no-store"} <= set(response["Cache-Control"].replace(" ", "").split(","))


@pytest.mark.django_db
def test_the_open_pages_are_only_health_and_login(client: Client) -> None:
    for path in LOGIN_PAGES:
        assert client.get(path).status_code == 200
    health = client.get("/healthz")
    assert health.status_code in (200, 503)
    assert set(health.json()) == {"status", "checks"}
    assert set(health.json()["checks"]) == {"database", "redis", "broker", "worker", "beat"}
    # Liveness says only that this web process answers: nothing about the rest of the stack.
    assert client.get("/healthz/live").json() == {"status": "ok"}


@pytest.mark.django_db
def test_the_simulated_org_does_its_own_oauth(client: Client) -> None:
    for path, method in SIM_API_PATHS.items():
        response = getattr(client, method)(path)
        assert response.status_code == 401, path
        assert response.json()["code"] == "authentication.required"
        forged = getattr(client, method)(path, headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401 and forged.json()["code"] == "bad.credentials"
    token = client.post("/sim/oauth/token", {"grant_type": "client_credentials"})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    wrong = base64.b64encode(b"sim-client:wrong").decode()
    refused = client.post(
        "/sim/oauth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert refused.status_code == 401


def test_the_simulated_org_is_not_mounted_for_a_real_org(settings) -> None:
    import config.urls

    settings.GENESYS_SIMULATOR = False
    try:
        importlib.reload(config.urls)
        clear_url_caches()
        paths = [path for path, _ in site_paths()]
        assert paths and not any(path.startswith("/sim/") for path in paths)
    finally:
        settings.GENESYS_SIMULATOR = True
        importlib.reload(config.urls)
        clear_url_caches()


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser("root")


@pytest.mark.parametrize("path", PRODUCT_PATHS)
def test_every_post_demands_a_csrf_token(root: User, path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(root)
    response = client.post(path, {"anything": "1"})
    assert response.status_code == 403, path
    assert b"CSRF verification failed" in response.content


def test_only_the_simulated_org_is_exempt_from_csrf() -> None:
    exempt = {path for path, view in PATHS if getattr(view, "csrf_exempt", False)}
    assert exempt and all(path.startswith("/sim/") for path in exempt), exempt


def csrf_client(user: User) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return client, token


def test_refresh_demands_staff(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(
        fetch_report_task, "apply_async", lambda *, task_id, **_: started.append(task_id)
    )
    url = "/refresh?" + DAY_QUERY
    client, token = csrf_client(User.objects.create_user("alice"))
    assert client.post(url, headers={"X-CSRFToken": token}).status_code == 403
    assert started == []
    client, token = csrf_client(User.objects.create_user("sam", is_staff=True))
    assert client.post(url, headers={"X-CSRFToken": token}).status_code == 302
    assert len(started) == 1


@pytest.mark.django_db
def test_metrics_demand_staff_or_the_token(client: Client, settings) -> None:
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraper = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert scraper.status_code == 200 and b"gad_up" in scraper.content
    client.force_login(User.objects.create_user("alice"))
    assert client.get("/metrics").status_code == 403
    client.force_login(User.objects.create_user("sam", is_staff=True))
    assert client.get("/metrics").status_code == 200
    # With no token configured, a bearer header opens nothing.
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


# --- fuzzing: no input gives a 500, every rejection names the field ---------------------------------

KNOWN_FIELDS = set(FIELD_LABELS)
PLAUSIBLE = {
    "range": st.sampled_from([*reports.RANGES, "", "Today", "last_24h "]),
    "start": st.one_of(
        st.dates(min_value=date(1, 1, 1)).map(date.isoformat),
        st.datetimes().map(lambda moment: moment.isoformat()),
        st.sampled_from(["2024-02-30", "0000-01-01", "9999-12-31", "2024-05-01T25:00"]),
    ),
    "end": st.dates(min_value=date(1, 1, 1)).map(date.isoformat),
    "granularity": st.sampled_from([*reports.GRANULARITY_MINUTES, "PT5M", "P1W", ""]),
    "tz": st.sampled_from(["UTC", "Europe/London", "Asia/Kolkata", "Mars/Base", "../etc", ""]),
    "type": st.sampled_from([*reports.MEDIA_TYPES, "voice,chat", "fax", ""]),
    "direction": st.sampled_from([*reports.DIRECTIONS, "sideways", ""]),
    "queue": st.sampled_from(["q1", "q1,q2", "a" * 65, "<script>", ""]),
    "view": st.sampled_from(["all", "view-sales", "bad view", "x" * 70, ""]),
    "source": st.sampled_from([*reports.SOURCES, "soap", ""]),
}
ANY_TEXT = st.text(max_size=80)
FILTER_PARAMS = st.dictionaries(
    keys=st.one_of(st.sampled_from(sorted(PLAUSIBLE)), ANY_TEXT),
    values=st.lists(st.one_of(ANY_TEXT, *PLAUSIBLE.values()), min_size=1, max_size=3),
    max_size=6,
)
FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@hypothesis_settings(max_examples=500, deadline=None)
@given(params=FILTER_PARAMS)
def test_filter_parsing_accepts_or_names_the_field(params: dict[str, list[str]]) -> None:
    try:
        spec = reports.report_spec_build(params=params, now=datetime.now(UTC))
    except reports.ReportSpecError as exc:
        assert exc.field in KNOWN_FIELDS and exc.message
    else:
        assert spec.start < spec.end and len(spec.key) == 64


@pytest.fixture
def fuzz_client(db: None, settings, monkeypatch: pytest.MonkeyPatch) -> tuple[Client, list[str]]:
    """alice, with no read cap in the way and Celery replaced by a list of started jobs."""
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 1_000_000
    started: list[str] = []
    monkeypatch.setattr(
        fetch_report_task, "apply_async", lambda *, task_id, **_: started.append(task_id)
    )
    # The page would ask a worker for the queue list, through the real broker.
    monkeypatch.setattr(services, "queue_choices", lambda: [])
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_user("alice"))
    return client, started


@FUZZ
@given(params=FILTER_PARAMS)
def test_the_json_api_never_fails_on_any_filter(
    fuzz_client: tuple[Client, list[str]], params: dict[str, list[str]]
) -> None:
    client, _ = fuzz_client
    response = client.get("/api/report?" + urlencode(params, doseq=True))
    assert response.status_code in (200, 202, 400), response.content[:300]
    if response.status_code == 400:
        body = response.json()
        assert body["field"] in KNOWN_FIELDS and body["error"]


@FUZZ
@given(query=st.text(max_size=200))
def test_no_query_string_gives_a_500(fuzz_client: tuple[Client, list[str]], query: str) -> None:
    client, _ = fuzz_client
    raw = quote(query, safe="=&")
    for path in ("/api/report", "/", "/export.csv", "/export.json"):
        response = client.get(f"{path}?{raw}")
        assert response.status_code in (200, 202, 400, 409), (path, response.status_code)
        if response.status_code == 400 and path != "/":
            assert response.json()["field"] in KNOWN_FIELDS
        if response.status_code == 400 and path == "/":
            # The page shows which filter was wrong, next to that field.
            assert re.search(rb'id="error-(\w+)"', response.content), response.content[-500:]


@FUZZ
@given(job_id=st.text(min_size=1, max_size=100))
def test_no_job_id_gives_a_500(fuzz_client: tuple[Client, list[str]], job_id: str) -> None:
    client, _ = fuzz_client
    response = client.get("/api/jobs/" + quote(job_id, safe=""))
    # 404 from the view (bad or unknown id) or from the URL resolver (an id with a slash).
    assert response.status_code in (404, 200), response.status_code


# --- a limit on fetches started per user ---------------------------------------------------------


def distinct_days(count: int) -> list[str]:
    first = date(2024, 1, 1)
    return [
        f"range=custom&start={day}&end={day}&tz=UTC"
        for day in (first + timedelta(days=n) for n in range(count))
    ]


def test_a_script_cannot_start_more_fetches_than_the_read_cap(
    db: None, settings, monkeypatch: pytest.MonkeyPatch, fake_redis: Any
) -> None:
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 30
    settings.DASHBOARD_FETCHES_PER_MINUTE = 1000  # this test is about the read cap alone
    started: list[str] = []
    monkeypatch.setattr(
        fetch_report_task, "apply_async", lambda *, task_id, **_: started.append(task_id)
    )
    client = Client()
    client.force_login(User.objects.create_user("alice"))
    statuses = [client.get("/api/report?" + query).status_code for query in distinct_days(100)]
    assert statuses.count(202) == len(started) == 30
    assert statuses.count(429) == 70
    # Redis holds what those 30 fetches need (a job and a lock each) and a few counters, no more.
    assert len(fake_redis.keys(redis_key("job", "*"))) == 30
    # The login's own keys (its session, the replaced one's tombstone, the user's copy and
    # generation: dashboard.sessions, dashboard.user_cache) do not grow with the reads.
    login_keys = fake_redis.keys(redis_key("session", "*")) + fake_redis.keys(
        redis_key("user", "*")
    )
    assert len(login_keys) <= 4
    assert len(fake_redis.keys("*")) - len(login_keys) <= 2 * 30 + 5


def test_a_user_starts_at_most_the_fetch_limit_per_minute(
    db: None, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DASHBOARD_FETCHES_PER_MINUTE = 5
    started: list[str] = []
    monkeypatch.setattr(
        fetch_report_task, "apply_async", lambda *, task_id, **_: started.append(task_id)
    )
    client = Client()
    client.force_login(User.objects.create_user("alice"))
    statuses = [client.get("/api/report?" + query).status_code for query in distinct_days(20)]
    assert len(started) == 5
    assert statuses.count(202) == 5 and statuses.count(429) == 15


# --- secrets: never in a log line, page or error message -------------------------------------------

WRONG_SECRET = "drill-wrong-secret-4e1d7b2a9c"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("security-template") / "db.sqlite3"
    return path, migrate_template(path)


@pytest.fixture
def stack(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> Iterator[Stack]:
    with running_stack(tmp_path, *template) as stack:
        yield stack


@pytest.mark.drill
def test_no_secret_or_token_is_ever_logged_or_shown(stack: Stack) -> None:
    debug = {"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"}
    stack.start_sim(**debug)
    stack.start_web(**debug)
    worker = stack.start_worker(DRILL_BACKOFF_SCALE="0.1", **debug)
    seen: list[str] = []

    def look(path: str, username: str = "root") -> None:
        response = stack.get(path, username=username)
        seen.append(f"{path} {response.status_code} {response.headers}\n{response.text}")

    # A fetch through an expired token, a 500, a 429 and a truncated answer: every error path.
    stack.sim_faults("expire,500,429,malformed")
    job_id = stack.report().json()["job_id"]
    assert stack.wait_for_job(job_id)["state"] == "done"
    token_keys = [key for key in stack.cache().keys("*:oauth:*") if not key.endswith(b":lock")]
    tokens = [stack.cache().get(key).decode() for key in token_keys]
    assert tokens and all(len(token) > 20 for token in tokens)
    for path in ("/?" + DAY_QUERY, "/api/report?" + DAY_QUERY, f"/api/jobs/{job_id}"):
        look(path)
    look("/export.json?" + DAY_QUERY)

    # The same fetch with a wrong secret: the token request is refused, the job fails.
    worker.stop()
    stack.cache().delete(*token_keys)
    wrong = stack.start_worker("wrong", GENESYS_CLIENT_SECRET=WRONG_SECRET, **debug)
    other_day = DAY_QUERY.replace("2024-05-01", "2024-05-02")
    failed_id = stack.report(other_day).json()["job_id"]
    failed = stack.wait_for_job(failed_id)
    assert failed["state"] == "failed" and "rejected the client credentials" in failed["message"]
    for path in ("/?" + other_day, f"/api/jobs/{failed_id}", "/healthz", "/metrics"):
        look(path)
    look("/admin/analytics_worker/savedreport/")
    wrong.stop()

    logs = stack.logs()
    assert "fetch done report=" in logs and "fetch failed report=" in logs
    secrets = {
        "client secret": CLIENT_SECRET,
        "wrong secret": WRONG_SECRET,
        "Basic credentials": base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
        "wrong Basic credentials": base64.b64encode(
            f"{CLIENT_ID}:{WRONG_SECRET}".encode()
        ).decode(),
        "Django SECRET_KEY": SECRET_KEY,
        **{f"access token {n}": token for n, token in enumerate(tokens)},
    }
    everything = logs + "\n".join(seen)
    for name, secret in secrets.items():
        assert secret not in everything, f"the {name} appears in a log line or page"
    assert_json_event_lines(logs, job_id)


def assert_json_event_lines(logs: str, job_id: str) -> None:
    """With LOG_FORMAT=json each event is one line of JSON; a fetch's lines carry its job id."""
    events = [json.loads(line) for line in logs.splitlines() if line.startswith('{"time"')]
    assert len(events) > 20
    done = [event for event in events if event["message"].startswith("fetch done report=")]
    assert done and done[0]["job"] == job_id and f"job={job_id}" in done[0]["message"]
    retries = [event for event in events if "retry 1/5" in event["message"]]
    assert retries and all(event.get("job") for event in retries)
