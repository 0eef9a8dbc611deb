"""auth.mode = "proxy" end to end: Streamlit behind an authenticating reverse proxy that sets
`X-Forwarded-Email`, driven in Debian's Chromium (Playwright sends the header the proxy would add). The
header the page reads decides the role on the Actions page and on Triage's incident form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import StreamlitServer, start_streamlit, stop_streamlit, write_config
from tests.e2e.browser import WAIT_MS, main_text, no_exception, open_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    directory = tmp_path_factory.mktemp("proxy")
    config = write_config(
        directory, {"auth": {"mode": "proxy", "proxy_header": "X-Forwarded-Email"}, "demo": {"days": 2}}
    )
    server = start_streamlit(config)
    try:
        yield server
    finally:
        stop_streamlit(server)


def browse_as(chromium, headers: dict[str, str]):
    return chromium.new_context(viewport={"width": 1300, "height": 1000}, extra_http_headers=headers)


def test_the_proxy_header_names_the_user_and_their_role(proxied_app: StreamlitServer, chromium) -> None:
    context = browse_as(chromium, {"X-Forwarded-Email": "Bob@Example.com"})
    try:
        page = context.new_page()
        open_page(page, f"{proxied_app.url}/actions", "identity from proxy")
        no_exception(page, "/actions")
        caption = page.get_by_text("identity from proxy").inner_text()
        # the role is looked up by the normalised address; the label shows what the proxy sent
        assert "bob@example.com" in caption.lower() and "role approver" in caption
        assert "No identity in the" not in main_text(page)
        # no demo picker: in proxy mode the header is the only way to say who you are
        assert page.get_by_text("Acting as (demo mode").count() == 0
    finally:
        context.close()


def test_without_the_header_you_are_a_viewer_and_told_why(proxied_app: StreamlitServer, chromium) -> None:
    context = browse_as(chromium, {})
    try:
        page = context.new_page()
        open_page(page, f"{proxied_app.url}/actions", "identity from proxy")
        warning = page.get_by_text("No identity in the")
        warning.first.wait_for(timeout=WAIT_MS)
        assert "X-Forwarded-Email" in warning.first.inner_text()
        assert "role viewer" in page.get_by_text("identity from proxy").inner_text()
        no_exception(page, "/actions")
    finally:
        context.close()
