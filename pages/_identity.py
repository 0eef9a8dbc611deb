"""Who is acting, for pages other than Actions that write something (Triage's incident form): the one
mechanism config auth.mode trusts (the demo picker, the proxy header, OIDC), resolved by core.auth."""

import streamlit as st

from core.auth import Identity, resolve_identity, role_of
from core.config import HeadroomConfig


def demo_user_select(cfg: HeadroomConfig, label: str, key: str) -> str | None:
    """Demo mode's picker among the configured users (the Actions page's and the incident form's: one
    widget shape, each page its own `key`, as Streamlit drops another page's widget state)."""
    names = {u.email: f"{u.name or u.email} · {u.role}" for u in cfg.user}
    return st.selectbox(
        label,
        list(names),
        index=None,
        placeholder="Not signed in (viewer)",
        format_func=lambda e: names.get(e, e),
        key=key,
    )


def identity_picker(cfg: HeadroomConfig, key: str) -> tuple[Identity, str]:
    """(identity, role). In demo mode a picker among the configured users."""
    if cfg.auth.mode == "demo":
        choice = demo_user_select(cfg, "Recording as (demo mode)", key)
        who = resolve_identity(cfg.auth, cfg.user, demo_choice=choice)
    else:
        # the proxy header with ALL its values (a repeated header is refused: issue 19 item 3) or the
        # OIDC login, exactly as every other page reads them
        from pages import _ui as ui

        who = ui.current_identity()
    return who, role_of(who, cfg.user)
