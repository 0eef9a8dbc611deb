"""CostExplorerSource against moto_server (seeded GetCostAndUsage results), with the store as its cache:
the embedded SQLite store, and the PostgreSQL store replicas share (issue 14), the same tests on each."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.cost_explorer import FETCH_LOG_TABLE, CostExplorerSource
from connectors.store import COSTS_TABLE, open_db
from core import db as store_db
from core.config import CostExplorerConfig
from core.ports import SourceError
from tests.connectors.awsdata import CDN, EC2
from tests.connectors.awsdata import ce_group as group
from tests.connectors.awsdata import ce_period as period
from tests.connectors.awsdata import seed_cost_and_usage as seed

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # "today" is 2026-11-20 (open); earlier days are closed


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "postgresql":
        yield request.getfixturevalue("postgres_url")
        return
    database = open_db(tmp_path / "headroom.db")
    yield database
    database.conn.close()


def run(db, statement: str) -> None:
    """A statement against the cache's store behind the source's back, committed."""
    with store_db.store_write(db) as conn:
        conn.execute(statement)


def count_rows(db, table: str) -> int:
    with store_db.store_read(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def make_source(endpoint: str, db, **overrides) -> CostExplorerSource:
    return CostExplorerSource(CostExplorerConfig(endpoint_url=endpoint, **overrides), db)


def record_requests(source: CostExplorerSource) -> list[dict]:
    """Bodies of the HTTP requests botocore actually sends to Cost Explorer."""
    sent: list[dict] = []
    source.client.meta.events.register(
        "before-send.ce.GetCostAndUsage", lambda request, **kw: sent.append(json.loads(request.body))
    )
    return sent


def as_rows(frame) -> set[tuple]:
    return {(d.isoformat(), s, r, round(c, 6)) for d, s, r, c in frame.itertuples(index=False)}


# two pages: the second page continues day 11-11's groups and adds 11-12 (CE splits groups across pages)
PAGE_1 = {
    "ResultsByTime": [
        period("2026-11-10", [group(EC2, "us-east-1", 120.5), group(CDN, "NoRegion", 80.25)]),
        period("2026-11-11", [group(EC2, "us-east-1", 118.0)]),
    ],
    "NextPageToken": "page-2",
}
PAGE_2 = {
    "ResultsByTime": [
        period("2026-11-11", [group(EC2, "eu-west-1", 61.0), group(CDN, "NoRegion", 79.75)]),
        period("2026-11-12", [group(EC2, "us-east-1", 121.0)]),
    ],
}
EXPECTED = {
    ("2026-11-10", EC2, "us-east-1", 120.5),
    ("2026-11-10", CDN, "global", 80.25),
    ("2026-11-11", EC2, "us-east-1", 118.0),
    ("2026-11-11", EC2, "eu-west-1", 61.0),
    ("2026-11-11", CDN, "global", 79.75),
    ("2026-11-12", EC2, "us-east-1", 121.0),
}


def test_pages_are_followed_into_the_billing_frame(aws_env, db):
    seed(aws_env, PAGE_1, PAGE_2)
    source = make_source(aws_env, db)
    sent = record_requests(source)
    frame = source.daily_costs(date(2026, 11, 10), date(2026, 11, 12), now=NOW)

    assert list(frame.columns) == ["day", "service", "region", "cost_usd"]
    assert str(frame["cost_usd"].dtype) == "float64"
    assert isinstance(frame["day"].iloc[0], date)
    assert as_rows(frame) == EXPECTED
    assert len(sent) == 2 and "NextPageToken" not in sent[0] and sent[1]["NextPageToken"] == "page-2"
    assert sent[0]["TimePeriod"] == {"Start": "2026-11-10", "End": "2026-11-13"}  # End is exclusive
    assert sent[0]["Granularity"] == "DAILY" and sent[0]["Metrics"] == ["UnblendedCost"]
    assert [g["Key"] for g in sent[0]["GroupBy"]] == ["SERVICE", "REGION"]


def test_closed_days_are_never_fetched_again(aws_env, db):
    seed(aws_env, PAGE_1, PAGE_2)
    first = make_source(aws_env, db)
    first.daily_costs(date(2026, 11, 10), date(2026, 11, 12), now=NOW)

    again = make_source(aws_env, db)  # e.g. after a restart: the store is the cache
    sent = record_requests(again)
    frame = again.daily_costs(date(2026, 11, 10), date(2026, 11, 12), now=NOW + timedelta(days=30))
    assert sent == []
    assert as_rows(frame) == EXPECTED
    sub = again.daily_costs(date(2026, 11, 11), date(2026, 11, 11), now=NOW)
    assert sent == [] and {r[0] for r in as_rows(sub)} == {"2026-11-11"}


def test_open_day_is_refreshed_after_its_ttl_only(aws_env, db):
    today = NOW.date().isoformat()
    seed(
        aws_env,
        {
            "ResultsByTime": [
                period("2026-11-19", [group(EC2, "us-east-1", 100.0)]),
                period(today, [group(EC2, "us-east-1", 40.0)], True),
            ]
        },
        {"ResultsByTime": [period(today, [group(EC2, "us-east-1", 55.0)], True)]},
    )
    source = make_source(aws_env, db, refresh_open_days_after=timedelta(hours=6))
    sent = record_requests(source)
    start, end = date(2026, 11, 19), date(2026, 11, 25)  # future days are never asked for
    frame = source.daily_costs(start, end, now=NOW)
    assert as_rows(frame) == {("2026-11-19", EC2, "us-east-1", 100.0), (today, EC2, "us-east-1", 40.0)}
    assert sent[0]["TimePeriod"] == {"Start": "2026-11-19", "End": "2026-11-21"}

    source.daily_costs(start, end, now=NOW + timedelta(hours=1))
    assert len(sent) == 1  # the open day is still fresh

    frame = source.daily_costs(start, end, now=NOW + timedelta(hours=7))
    assert len(sent) == 2 and sent[1]["TimePeriod"] == {
        "Start": today,
        "End": "2026-11-21",
    }  # closed 11-19 not refetched
    assert as_rows(frame) == {("2026-11-19", EC2, "us-east-1", 100.0), (today, EC2, "us-east-1", 55.0)}


def test_estimated_past_day_stays_open_and_rows_changed_elsewhere_are_refetched(aws_env, db):
    seed(
        aws_env,
        {
            "ResultsByTime": [
                period("2026-11-17", [group(EC2, "us-east-1", 90.0)]),
                period("2026-11-18", [group(EC2, "us-east-1", 95.0)], True),
            ]
        },
        {"ResultsByTime": [period("2026-11-17", [group(EC2, "us-east-1", 90.0)])]},
    )
    source = make_source(aws_env, db)
    source.daily_costs(date(2026, 11, 17), date(2026, 11, 18), now=NOW)
    assert source.days_to_fetch(date(2026, 11, 17), date(2026, 11, 18), NOW + timedelta(hours=7)) == [
        date(2026, 11, 18)
    ]
    # something else (e.g. the demo world) rewrote 11-17's rows: the log no longer matches, so refetch
    run(db, f"DELETE FROM {COSTS_TABLE} WHERE day = '2026-11-17'")
    assert source.days_to_fetch(date(2026, 11, 17), date(2026, 11, 17), NOW) == [date(2026, 11, 17)]
    frame = source.daily_costs(date(2026, 11, 17), date(2026, 11, 17), now=NOW)
    assert as_rows(frame) == {("2026-11-17", EC2, "us-east-1", 90.0)}
    assert count_rows(db, FETCH_LOG_TABLE) == 2


class _Throttling(BaseHTTPRequestHandler):
    """An endpoint that answers every Cost Explorer call with its throttling error (moto cannot)."""

    hits = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"__type": "LimitExceededException", "message": "Rate exceeded"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_throttling_is_retried_then_reported(aws_env, db):
    _Throttling.hits = 0  # a class attribute: counted afresh for each backend
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        source = make_source(f"http://127.0.0.1:{server.server_address[1]}", db, max_attempts=2)
        with pytest.raises(SourceError, match="throttling") as err:
            source.daily_costs(date(2026, 11, 10), date(2026, 11, 11), now=NOW)
        assert _Throttling.hits == 2  # botocore retried once, as configured
        assert "2 attempts" in err.value.message and err.value.source == "AWS Cost Explorer"
        assert source.health().state == "down"
        assert count_rows(db, FETCH_LOG_TABLE) == 0  # nothing half-cached
    finally:
        server.shutdown()
        server.server_close()


def test_two_replicas_share_the_postgres_cache_and_pay_once(aws_env, postgres_url):
    """What one replica bought, another replica (its own source, its own process-wide lock) reads from
    the shared store without a request; the tables come from a recorded migration."""
    from connectors.cost_explorer import BILLING_CACHE_COMPONENT
    from core.migrations import schema_version

    seed(aws_env, PAGE_1, PAGE_2)
    first = make_source(aws_env, postgres_url)
    assert schema_version(postgres_url, BILLING_CACHE_COMPONENT) == 1
    assert as_rows(first.daily_costs(date(2026, 11, 10), date(2026, 11, 12), now=NOW)) == EXPECTED
    second = make_source(aws_env, postgres_url)
    sent = record_requests(second)
    assert as_rows(second.daily_costs(date(2026, 11, 10), date(2026, 11, 12), now=NOW)) == EXPECTED
    assert sent == [] and second.health().state == "ok"
    assert count_rows(postgres_url, COSTS_TABLE) == len(EXPECTED)


def test_two_replicas_missing_the_same_days_at_once_buy_them_once(aws_env, postgres_url):
    """Each replica has its own process lock; the advisory lock on the shared store makes the second one
    wait for the first's write and then read the days it bought, instead of paying for them again."""
    seed(aws_env, PAGE_1, PAGE_2)
    replicas = [make_source(aws_env, postgres_url) for _ in range(2)]
    sent = [record_requests(r) for r in replicas]
    start_together = threading.Barrier(len(replicas))
    frames: list = [None] * len(replicas)

    def load(i: int) -> None:
        start_together.wait()
        frames[i] = replicas[i].daily_costs(date(2026, 11, 10), date(2026, 11, 12), now=NOW)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [as_rows(f) for f in frames] == [EXPECTED, EXPECTED]
    assert sorted(len(s) for s in sent) == [0, 2]  # one replica followed both pages, the other sent nothing
    assert count_rows(postgres_url, COSTS_TABLE) == len(EXPECTED)
