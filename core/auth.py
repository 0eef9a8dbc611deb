"""Who is using Headroom and what they may do: identity from one trusted mechanism, roles from config.

Pure mapping, no Streamlit: the page reads `st.user` / `st.context.headers` / the demo picker and passes
plain values here. Exactly one mechanism is trusted, chosen by config `auth.mode`:
- "oidc":  claims of `st.user` (Streamlit's `st.login` with `[auth]` in secrets.toml);
- "proxy": the `auth.proxy_header` set by an authenticating reverse proxy (e.g. oauth2-proxy). Only safe
           when Streamlit is reachable through that proxy alone (bind it to 127.0.0.1);
- "demo":  a picker among the `[[user]]` entries of the config (the embedded demo world).
Values offered by the other mechanisms are ignored, so a forged header means nothing in oidc/demo mode.
Roles come from `[[user]]` by e-mail; anyone else, and anyone not signed in, is a viewer. E-mails are
compared after one safe normalisation (`normalise_email`): surrounding spaces dropped and ASCII letters
lower-cased. Addresses with any non-ASCII character are never folded and never match a configured user
(the config only accepts ASCII addresses): Unicode case folding maps e.g. the Kelvin sign U+212A onto
'k', which would let a look-alike address take an approver's role. Permissions are default deny: a role or permission not listed below allows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.config import AuthConfig, User

Role = Literal["viewer", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "approver", "admin")
DEFAULT_ROLE: Role = "viewer"

# permission -> roles that hold it. Approving and rejecting are further limited by the two-person rule
# (never your own proposal), which core.actions enforces.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "propose": frozenset({"operator", "approver", "admin"}),
    "approve": frozenset({"approver", "admin"}),
    "reject": frozenset({"approver", "admin"}),
    "execute": frozenset({"operator", "approver", "admin"}),
    "cancel_own": frozenset({"operator", "approver", "admin"}),
    "cancel_any": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Identity:
    """A person as established by the trusted mechanism. `verified` is False when the mechanism gave an
    identity it does not vouch for (e.g. an OIDC e-mail with email_verified=false): such a person is
    shown by name but only gets the viewer role."""

    email: str
    name: str = ""
    source: Literal["oidc", "proxy", "demo", "anonymous"] = "anonymous"
    verified: bool = True

    @property
    def signed_in(self) -> bool:
        return bool(self.email)

    @property
    def label(self) -> str:
        if not self.email:
            return "not signed in"
        return f"{self.name} <{self.email}>" if self.name and self.name != self.email else self.email


ANONYMOUS = Identity(email="", name="", source="anonymous", verified=False)


def normalise_email(email: str) -> str:
    """Spaces stripped and ASCII letters lower-cased; a non-ASCII address is returned stripped but
    otherwise untouched, so no Unicode folding (Kelvin sign -> 'k', fullwidth -> ASCII) can make two
    different addresses equal."""
    stripped = email.strip()
    if not stripped.isascii():
        return stripped
    return stripped.lower()  # on ASCII text str.lower() only maps A-Z to a-z


def is_matchable_email(email: str) -> bool:
    """Only plain ASCII addresses with one @ can hold a configured role."""
    stripped = email.strip()
    return stripped.isascii() and stripped.isprintable() and stripped.count("@") == 1


def role_for_email(email: str, users: Iterable[User]) -> Role:
    """The configured role of this e-mail; unknown, empty or non-ASCII -> viewer."""
    wanted = normalise_email(email)
    if not wanted or not is_matchable_email(wanted):
        return DEFAULT_ROLE
    for user in users:
        if normalise_email(user.email) == wanted:
            return user.role
    return DEFAULT_ROLE


def role_of(identity: Identity, users: Iterable[User]) -> Role:
    """The role in force for this identity: unverified or anonymous identities are viewers."""
    if not identity.signed_in or not identity.verified:
        return DEFAULT_ROLE
    return role_for_email(identity.email, users)


def allowed(role: str, permission: str) -> bool:
    """Default deny: True only for a known permission explicitly granted to this role."""
    return role in PERMISSIONS.get(permission, frozenset())


def _truthy_claim(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False


def identity_from_oidc(claims: Mapping[str, Any]) -> Identity:
    """`st.user` as a dict -> Identity. Not logged in, or no e-mail claim -> anonymous.

    An explicit `email_verified: false` marks the identity unverified (viewer): otherwise anyone who can
    register an unverified address at the provider could claim an approver's e-mail.
    """
    if not claims or not _truthy_claim(claims.get("is_logged_in", False)):
        return ANONYMOUS
    email = str(claims.get("email") or "").strip()
    if not email:
        return ANONYMOUS
    name = str(claims.get("name") or claims.get("preferred_username") or email)
    verified = _truthy_claim(claims["email_verified"]) if "email_verified" in claims else True
    return Identity(email=email, name=name, source="oidc", verified=verified)


HeaderValues = str | Sequence[str]


def header_values(headers: Mapping[str, HeaderValues], header_name: str) -> list[str]:
    """Every value received for `header_name` (case-insensitive), however the mapping holds them.

    Streamlit's `st.context.headers` answers `[name]` with the *first* value and `get_all(name)` with
    all of them; a plain dict may map a name to a list, or hold the name in two spellings."""
    wanted = header_name.strip().lower()
    values: list[str] = []
    get_all = getattr(headers, "get_all", None)
    if callable(get_all):
        values.extend(str(v) for v in get_all(header_name))
        return values
    for key, value in headers.items():
        if str(key).lower() != wanted:
            continue
        if isinstance(value, str):
            values.append(value)
        else:
            values.extend(str(v) for v in value)
    return values


def identity_from_proxy(headers: Mapping[str, HeaderValues], header_name: str) -> Identity:
    """The e-mail set by the authenticating proxy (header names are case-insensitive).

    Exactly one value with exactly one address is accepted. A proxy that *appends* its header (Envoy's
    default) leaves a client-sent copy in front of it, so several values, or a comma-joined list, mean
    someone forged one: the request gets no identity at all."""
    values = header_values(headers, header_name)
    if len(values) != 1:
        return ANONYMOUS
    email = values[0].strip()
    if not email or email.count("@") != 1 or "," in email:  # one address, or nothing
        return ANONYMOUS
    return Identity(email=email, name=email, source="proxy", verified=True)


def identity_from_demo(choice: str | None, users: Iterable[User]) -> Identity:
    """The demo picker's choice, only if it is one of the configured users."""
    if not choice or not is_matchable_email(choice):
        return ANONYMOUS
    for user in users:
        if normalise_email(user.email) == normalise_email(choice):
            return Identity(email=user.email, name=user.name or user.email, source="demo", verified=True)
    return ANONYMOUS


def resolve_identity(
    auth: AuthConfig,
    users: Iterable[User],
    *,
    oidc_claims: Mapping[str, Any] | None = None,
    headers: Mapping[str, HeaderValues] | None = None,
    demo_choice: str | None = None,
) -> Identity:
    """The identity from the one mechanism `auth.mode` trusts; whatever the others offer is ignored.

    `headers` should be `st.context.headers` itself (it has `get_all`), not `dict(st.context.headers)`,
    which keeps only the first value of a repeated header and so hides a forged copy."""
    if auth.mode == "oidc":
        return identity_from_oidc(oidc_claims or {})
    if auth.mode == "proxy":
        return identity_from_proxy(headers or {}, auth.proxy_header)
    if auth.mode == "demo":
        return identity_from_demo(demo_choice, users)
    return ANONYMOUS  # an unknown mode trusts nothing
