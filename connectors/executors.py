"""Build the configured ActionExecutor (config [sources].executor): the one place that knows which class
changes which system."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.aws_executor import AwsExecutor
from connectors.base import ActionExecutor
from connectors.sandbox_executor import SandboxExecutor
from core.config import HeadroomConfig

# keys accepted from an [aws] table in .streamlit/secrets.toml (never from the config file)
_AWS_SECRET_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "profile_name")


def build_executor(
    config: HeadroomConfig, db: Any, secrets: Mapping[str, Any] | None = None
) -> ActionExecutor:
    kind = config.sources.executor
    if kind == "sandbox":
        return SandboxExecutor(db, config)
    if kind == "aws":
        section = (secrets or {}).get("aws") or {}
        credentials = {k: str(section[k]) for k in _AWS_SECRET_KEYS if k in section}
        return AwsExecutor(config.aws, credentials=credentials)
    raise ValueError(f"sources.executor = {kind!r} is not available (sandbox | aws)")
