"""OIDC end to end: Streamlit's st.login against a real OpenID provider for tests (oidc-provider-mock),
driven in Debian's Chromium. The identity that comes back decides the role on the Actions page."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import (
    REPO_ROOT,
    STREAMLIT_TEST_ARGS,
    _stop,
    free_port,
    spawn,
    wait_http,
    write_config,
)

# the provider mock runs on Authlib APIs that Authlib marks deprecated (its own warnings, not ours)
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@dataclass
class OidcWorld:
    app_url: str
    provider_url: str


@pytest.fixture(scope="module")
def oidc_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcWorld]:
    from oidc_provider_mock import User, run_server_in_thread

    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider serves plain HTTP on loopback
    users = [
        User(sub="bob", claims={"email": "bob@example.com", "name": "Bob", "email_verified": True}),
        # someone who registered the admin's address without verifying it
        User(
            sub="impostor",
            claims={"email": "alice@example.com", "name": "Not Alice", "email_verified": False},
        ),
    ]
    directory = tmp_path_factory.mktemp("oidc")
    with run_server_in_thread(port=free_port(), user_claims=users) as provider:
        provider_url = f"http://localhost:{provider.server_port}"
        app_port = free_port()
        secrets = directory / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
            'cookie_secret = "a-test-only-cookie-secret-of-some-length"\n'
            'client_id = "headroom-tests"\n'
            'client_secret = "any-secret-the-mock-accepts"\n'
            f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n'
        )
        config = write_config(directory, {"auth": {"mode": "oidc"}, "demo": {"days": 2}})
        proc = spawn(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(REPO_ROOT / "dashboard.py"),
                "--server.port",
                str(app_port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--secrets.files",
                str(secrets),
                *STREAMLIT_TEST_ARGS,
            ],
            directory / "streamlit.log",  # a file, not an unread pipe that fills and blocks the server
            cwd=REPO_ROOT,
            env=dict(os.environ, HEADROOM_CONFIG=str(config)),
        )
        try:
            wait_http(f"http://127.0.0.1:{app_port}/_stcore/health", timeout=90, proc=proc)
            yield OidcWorld(f"http://127.0.0.1:{app_port}", provider_url)
        finally:
            _stop(proc)


def settle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=90_000)
    page.wait_for_selector("h1", timeout=90_000)
    # the status widget gone at three looks 400 ms apart (tests/e2e/test_browser.py, wait_until_idle)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)


def log_in_as(chromium, world: OidcWorld, sub: str):
    context = chromium.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.goto(f"{world.app_url}/actions", wait_until="domcontentloaded")
    settle(page)
    assert page.get_by_text("role viewer").count() == 1  # not signed in yet: a viewer
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{world.provider_url}/oauth2/authorize**", timeout=60_000)
    page.locator(f'button[name="sub"][value="{sub}"]').click()
    page.wait_for_url(f"{world.app_url}/**", timeout=60_000)
    page.goto(f"{world.app_url}/actions", wait_until="domcontentloaded")
    settle(page)
    return context, page


def test_oidc_login_maps_the_verified_email_to_its_role(oidc_world: OidcWorld, chromium):
    context, page = log_in_as(chromium, oidc_world, "bob")
    try:
        caption = page.get_by_text("identity from oidc").inner_text()
        assert "bob@example.com" in caption and "role approver" in caption
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("button", name="Log out").count() == 1
    finally:
        context.close()


def test_unverified_email_of_an_admin_gets_only_viewer(oidc_world: OidcWorld, chromium):
    context, page = log_in_as(chromium, oidc_world, "impostor")
    try:
        caption = page.get_by_text("identity from oidc").inner_text()
        assert "alice@example.com" in caption and "role viewer" in caption
        assert page.get_by_text("did not verify this e-mail address").count() == 1
    finally:
        context.close()
