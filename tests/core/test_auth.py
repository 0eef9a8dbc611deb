"""Identity and roles: one trusted mechanism per auth.mode, roles from [[user]], default deny."""

from __future__ import annotations

import pytest
from streamlit.runtime.context import StreamlitHeaders

from core.auth import (
    ANONYMOUS,
    PERMISSIONS,
    ROLES,
    Identity,
    allowed,
    identity_from_demo,
    identity_from_oidc,
    identity_from_proxy,
    resolve_identity,
    role_for_email,
    role_of,
)
from core.config import AuthConfig, User

USERS = (
    User(email="alice@example.com", role="admin", name="Alice"),
    User(email="bob@example.com", role="approver", name="Bob"),
    User(email="carol@example.com", role="operator", name="Carol"),
    User(email="dave@example.com", role="viewer", name="Dave"),
)


def test_role_comes_from_config_by_email_case_insensitively():
    assert role_for_email("Bob@Example.COM ", USERS) == "approver"
    assert role_for_email("alice@example.com", USERS) == "admin"
    assert role_for_email("carol@example.com", USERS) == "operator"


def test_unknown_or_empty_identity_is_a_viewer():
    assert role_for_email("mallory@example.com", USERS) == "viewer"
    assert role_for_email("", USERS) == "viewer"
    assert role_of(ANONYMOUS, USERS) == "viewer"


def test_oidc_claims_of_a_configured_user_map_to_their_role():
    claims = {
        "is_logged_in": True,
        "email": "bob@example.com",
        "name": "Bob B",
        "email_verified": True,
        "sub": "123",
        "iss": "https://idp.example",
    }
    identity = identity_from_oidc(claims)
    assert identity == Identity(email="bob@example.com", name="Bob B", source="oidc", verified=True)
    assert role_of(identity, USERS) == "approver"


def test_oidc_without_login_or_email_is_anonymous():
    assert identity_from_oidc({"is_logged_in": False, "email": "bob@example.com"}) == ANONYMOUS
    assert identity_from_oidc({}) == ANONYMOUS
    assert identity_from_oidc({"is_logged_in": True, "name": "no email"}) == ANONYMOUS


def test_oidc_unverified_email_gets_only_viewer_even_for_an_admin_address():
    identity = identity_from_oidc(
        {"is_logged_in": True, "email": "alice@example.com", "email_verified": False}
    )
    assert identity.email == "alice@example.com" and not identity.verified
    assert role_of(identity, USERS) == "viewer"
    # the string "false" some providers send counts as unverified too
    as_text = identity_from_oidc(
        {"is_logged_in": True, "email": "alice@example.com", "email_verified": "false"}
    )
    assert role_of(as_text, USERS) == "viewer"


def test_oidc_unknown_user_is_a_viewer():
    identity = identity_from_oidc(
        {"is_logged_in": True, "email": "eve@elsewhere.org", "preferred_username": "eve"}
    )
    assert identity.name == "eve"
    assert role_of(identity, USERS) == "viewer"


def test_proxy_header_is_read_case_insensitively_and_must_be_one_address():
    assert identity_from_proxy({"x-forwarded-email": "carol@example.com"}, "X-Forwarded-Email").email == (
        "carol@example.com"
    )
    assert identity_from_proxy({"X-Forwarded-Email": "a@x.com, b@x.com"}, "X-Forwarded-Email") == ANONYMOUS
    assert identity_from_proxy({"X-Forwarded-Email": "not-an-address"}, "X-Forwarded-Email") == ANONYMOUS
    assert identity_from_proxy({}, "X-Forwarded-Email") == ANONYMOUS


def test_only_the_configured_mechanism_is_trusted():
    forged = {"X-Forwarded-Email": "alice@example.com"}
    admin_claims = {"is_logged_in": True, "email": "alice@example.com"}
    # demo mode: a forged proxy header and OIDC claims mean nothing; only the picker counts
    demo = resolve_identity(
        AuthConfig(mode="demo"),
        USERS,
        headers=forged,
        oidc_claims=admin_claims,
        demo_choice="carol@example.com",
    )
    assert (demo.email, role_of(demo, USERS)) == ("carol@example.com", "operator")
    # oidc mode: the header and the demo picker are ignored
    oidc = resolve_identity(
        AuthConfig(mode="oidc"),
        USERS,
        headers=forged,
        demo_choice="alice@example.com",
        oidc_claims={"is_logged_in": False},
    )
    assert oidc == ANONYMOUS
    # proxy mode: the header counts, the picker does not
    proxy = resolve_identity(
        AuthConfig(mode="proxy"),
        USERS,
        headers={"x-forwarded-email": "bob@example.com"},
        demo_choice="alice@example.com",
    )
    assert (proxy.source, role_of(proxy, USERS)) == ("proxy", "approver")
    custom = resolve_identity(
        AuthConfig(mode="proxy", proxy_header="X-Auth-Request-Email"),
        USERS,
        headers={"X-Forwarded-Email": "alice@example.com"},
    )
    assert custom == ANONYMOUS


def test_demo_picker_accepts_only_configured_users():
    assert identity_from_demo("mallory@example.com", USERS) == ANONYMOUS
    assert identity_from_demo(None, USERS) == ANONYMOUS
    assert identity_from_demo("DAVE@example.com", USERS).email == "dave@example.com"


@pytest.mark.parametrize(
    ("role", "granted"),
    [
        ("viewer", {"view"}),
        ("operator", {"view", "propose", "execute", "cancel_own"}),
        ("approver", {"view", "propose", "execute", "cancel_own", "approve", "reject"}),
        ("admin", set(PERMISSIONS)),
    ],
)
def test_permission_table(role: str, granted: set[str]):
    assert {p for p in PERMISSIONS if allowed(role, p)} == granted


def test_default_deny_for_unknown_roles_and_permissions():
    assert not allowed("superuser", "approve")
    assert not allowed("", "view")
    assert all(not allowed(role, "delete_everything") for role in ROLES)


def _headers_with_repeats(pairs: list[tuple[str, str]]) -> StreamlitHeaders:
    """What `st.context.headers` is: `[]` gives the first value, `get_all` every value sent."""
    return StreamlitHeaders(pairs)


def test_a_client_sent_identity_header_before_the_proxys_is_refused():
    # Envoy appends its X-Forwarded-Email to the client's: the forged one comes first
    forged_then_real = _headers_with_repeats(
        [("X-Forwarded-Email", "alice@example.com"), ("x-forwarded-email", "carol@example.com")]
    )
    assert identity_from_proxy(forged_then_real, "X-Forwarded-Email") == ANONYMOUS
    via_resolve = resolve_identity(AuthConfig(mode="proxy"), USERS, headers=forged_then_real)
    assert role_of(via_resolve, USERS) == "viewer"
    # the same, handed over as a plain mapping of header -> every value
    assert (
        identity_from_proxy(
            {"X-Forwarded-Email": ["alice@example.com", "carol@example.com"]}, "X-Forwarded-Email"
        )
        == ANONYMOUS
    )
    # two spellings of the header name in one plain dict are two values too
    assert (
        identity_from_proxy(
            {"X-Forwarded-Email": "alice@example.com", "x-forwarded-email": "carol@example.com"},
            "X-Forwarded-Email",
        )
        == ANONYMOUS
    )
    # a single value (repeated-capable mapping or list of one) is still accepted
    single = _headers_with_repeats([("X-Forwarded-Email", "carol@example.com")])
    assert identity_from_proxy(single, "X-Forwarded-Email").email == "carol@example.com"
    assert identity_from_proxy({"X-Forwarded-Email": ["carol@example.com"]}, "X-Forwarded-Email").email == (
        "carol@example.com"
    )


KEVIN_ADMIN = (*USERS, User(email="kevin@kelvin.example", role="admin", name="Kevin"))


@pytest.mark.parametrize(
    "lookalike",
    [
        "\u212aevin@kelvin.example",  # KELVIN SIGN: str.lower() turns it into 'k'
        "kevin@\u212aelvin.example",  # ... in the domain too
        "\uff4bevin@kelvin.example",  # FULLWIDTH k: NFKC folds it to 'k'
        "\u043aevin@kelvin.example",  # CYRILLIC ka
        "kevin@kelvin.example\u200b",  # a zero-width space after the address
    ],
)
def test_lookalike_addresses_never_map_onto_a_configured_user(lookalike: str):
    oidc = identity_from_oidc({"is_logged_in": True, "email": lookalike, "email_verified": True})
    assert role_of(oidc, KEVIN_ADMIN) == "viewer"
    assert role_for_email(lookalike, KEVIN_ADMIN) == "viewer"
    assert identity_from_demo(lookalike, KEVIN_ADMIN) == ANONYMOUS
    proxy = identity_from_proxy({"X-Forwarded-Email": lookalike}, "X-Forwarded-Email")
    assert role_of(proxy, KEVIN_ADMIN) == "viewer"


def test_kelvin_sign_does_not_become_an_admin():
    users = (User(email="kevin@example.com", role="admin", name="Kevin"),)
    forged = "\u212aevin@example.com"
    assert forged.lower() == "kevin@example.com"  # why plain str.lower() was unsafe
    oidc = identity_from_oidc({"is_logged_in": True, "email": forged})
    assert role_of(oidc, users) == "viewer"
    assert role_of(identity_from_oidc({"is_logged_in": True, "email": "KEVIN@Example.com"}), users) == "admin"
