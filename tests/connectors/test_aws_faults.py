"""The AWS read connectors against endpoints that misbehave: a Cost Explorer that repeats its NextPageToken
or never stops paging (a local stdlib HTTP server speaking Cost Explorer's JSON protocol, so every page is
a real HTTP request), a CloudWatch that repeats its NextToken (botocore Stubber: CloudWatch speaks CBOR),
and Cost Explorer amounts that are not finite numbers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.stub import Stubber

from connectors.aws_common import MAX_PAGES
from connectors.cloudwatch import CloudWatchCdnSource
from connectors.cost_explorer import FETCH_LOG_TABLE, CostExplorerSource
from connectors.store import COSTS_TABLE, open_db
from core.config import CloudWatchConfig, CostExplorerConfig, Distribution
from core.ports import SourceError
from tests.connectors.awsdata import EC2, ce_group, ce_period

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# a misbehaving endpoint stops on its own after this many pages, so the old endless loop ends too
SAFETY_STOP = 3 * MAX_PAGES


@dataclass
class FakeCostExplorer:
    token_mode: str = "same"  # same | fresh | none
    amount: str = "12.5"
    calls: int = 0
    tokens_received: list[str | None] = field(default_factory=list)
    url: str = ""


def _ce_handler(fake: FakeCostExplorer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            fake.calls += 1
            fake.tokens_received.append(request.get("NextPageToken"))
            group = ce_group(EC2, "us-east-1", 1.0)
            group["Metrics"]["UnblendedCost"]["Amount"] = fake.amount
            payload: dict = {
                "ResultsByTime": [ce_period("2026-11-10", [group])],
                "DimensionValueAttributes": [],
            }
            if fake.token_mode != "none" and fake.calls < SAFETY_STOP:
                payload["NextPageToken"] = "page-2" if fake.token_mode == "same" else f"page-{fake.calls + 1}"
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def fake_ce(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCostExplorer]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fake = FakeCostExplorer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ce_handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "headroom.db")
    yield database
    database.conn.close()


def _ce(fake: FakeCostExplorer, db) -> CostExplorerSource:
    return CostExplorerSource(CostExplorerConfig(endpoint_url=fake.url, max_attempts=1), db)


def _nothing_cached(db) -> bool:
    return (
        db.execute(f"SELECT COUNT(*) FROM {FETCH_LOG_TABLE}").fetchone()[0] == 0
        and db.execute(f"SELECT COUNT(*) FROM {COSTS_TABLE}").fetchone()[0] == 0
    )


def test_a_repeated_next_page_token_stops_the_paging(fake_ce: FakeCostExplorer, db) -> None:
    source = _ce(fake_ce, db)
    with pytest.raises(SourceError) as info:
        source.daily_costs(date(2026, 11, 10), date(2026, 11, 10), now=NOW)
    assert "same NextPageToken" in info.value.message and "GetCostAndUsage" in info.value.message
    assert fake_ce.calls == 2, f"{fake_ce.calls} billed calls"  # page 1, then page-2 twice would be a loop
    assert fake_ce.tokens_received == [None, "page-2"]
    assert source.health().state == "down" and "NextPageToken" in source.health().detail
    assert _nothing_cached(db)  # a half-read answer is never cached


def test_endless_paging_stops_at_the_page_cap(fake_ce: FakeCostExplorer, db) -> None:
    fake_ce.token_mode = "fresh"
    source = _ce(fake_ce, db)
    with pytest.raises(SourceError) as info:
        source.daily_costs(date(2026, 11, 10), date(2026, 11, 10), now=NOW)
    assert f"{MAX_PAGES} pages" in info.value.message
    assert fake_ce.calls == MAX_PAGES
    assert _nothing_cached(db)


def test_a_single_page_answer_still_works(fake_ce: FakeCostExplorer, db) -> None:
    fake_ce.token_mode = "none"
    frame = _ce(fake_ce, db).daily_costs(date(2026, 11, 10), date(2026, 11, 10), now=NOW)
    assert list(frame["cost_usd"]) == [12.5] and fake_ce.calls == 1


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "1e400", "nan"])
def test_non_finite_cost_amounts_are_refused(fake_ce: FakeCostExplorer, db, amount: str) -> None:
    fake_ce.token_mode = "none"
    fake_ce.amount = amount
    source = _ce(fake_ce, db)
    with pytest.raises(SourceError) as info:
        source.daily_costs(date(2026, 11, 10), date(2026, 11, 10), now=NOW)
    message = info.value.message
    assert "2026-11-10" in message and EC2 in message and repr(amount) in message and "finite" in message
    assert _nothing_cached(db)


# ---- CloudWatch: GetMetricData's NextToken ------------------------------------------------------------
def _cloudwatch() -> CloudWatchCdnSource:
    config = CloudWatchConfig(distributions=(Distribution(id="E1AAA", region="us-east-1"),), max_attempts=1)
    return CloudWatchCdnSource(config)


def _page(token: str | None) -> dict:
    page: dict = {"MetricDataResults": [], "Messages": []}
    if token:
        page["NextToken"] = token
    return page


def _run_cloudwatch(source: CloudWatchCdnSource, pages: list[dict]) -> tuple[int, SourceError | None]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    calls = 0

    def count(**_: object) -> None:
        nonlocal calls
        calls += 1

    source.client.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", count)
    with Stubber(source.client) as stub:
        for page in pages:
            stub.add_response("get_metric_data", page)  # any parameters
        try:
            source.query_range(
                ["cdn_requests_per_second"], end - timedelta(hours=1), end, timedelta(minutes=5)
            )
        except SourceError as exc:
            return calls, exc
    return calls, None


def test_cloudwatch_stops_on_a_repeated_next_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    source = _cloudwatch()
    calls, error = _run_cloudwatch(source, [_page("again")] * SAFETY_STOP + [_page(None)])
    assert error is not None and "same NextToken" in error.message and "GetMetricData" in error.message
    assert calls == 2
    assert source.health().state == "down"


def test_cloudwatch_stops_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    source = _cloudwatch()
    pages = [_page(f"t{i}") for i in range(SAFETY_STOP)] + [_page(None)]
    calls, error = _run_cloudwatch(source, pages)
    assert error is not None and f"{MAX_PAGES} pages" in error.message
    assert calls == MAX_PAGES
