"""boto3 plumbing shared by the AWS read connectors (CloudWatch, Cost Explorer).

Credentials come from boto3's own chain (environment, shared config/profile, SSO, instance or task role);
`AwsCredentials` only carries the optional plain values from `[connections.aws]` in secrets.toml. Retries
are botocore's `standard` or `adaptive` mode, which retry throttling and transient errors with backoff;
whatever still fails becomes a SourceError with a sentence a human can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from core.ports import SourceError

# Pages of one paginated read at most: each page of GetCostAndUsage is billed, and an endpoint that
# keeps answering with a token must not keep the page (and the bill) running.
MAX_PAGES = 50

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "LimitExceededException",
    }
)


@dataclass(frozen=True)
class AwsCredentials:
    """Optional explicit credentials; all None means boto3's default chain."""

    profile_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None

    @classmethod
    def from_settings(cls, section: Mapping[str, Any] | None) -> AwsCredentials:
        s = dict(section or {})
        return cls(
            profile_name=s.get("profile_name") or None,
            aws_access_key_id=s.get("aws_access_key_id") or None,
            aws_secret_access_key=s.get("aws_secret_access_key") or None,
            aws_session_token=s.get("aws_session_token") or None,
        )

    def __repr__(self) -> str:  # never print keys
        return f"AwsCredentials(profile_name={self.profile_name!r}, keys={'set' if self.aws_access_key_id else 'chain'})"


class AwsServiceConfig(Protocol):
    """The connection settings CloudWatchConfig and CostExplorerConfig share."""

    region_name: str
    endpoint_url: str | None
    retry_mode: Literal["standard", "adaptive"]
    max_attempts: int
    timeout: timedelta


def client_for(service: str, config: AwsServiceConfig, credentials: AwsCredentials | None = None) -> Any:
    """make_client with a connector config's connection settings."""
    return make_client(
        service,
        region_name=config.region_name,
        endpoint_url=config.endpoint_url,
        retry_mode=config.retry_mode,
        max_attempts=config.max_attempts,
        timeout_s=config.timeout.total_seconds(),
        credentials=credentials,
    )


def make_client(
    service: str,
    *,
    region_name: str,
    endpoint_url: str | None,
    retry_mode: Literal["standard", "adaptive"],
    max_attempts: int,
    timeout_s: float,
    credentials: AwsCredentials | None = None,
) -> Any:
    """A boto3 client with bounded timeouts and botocore's retry mode."""
    creds = credentials or AwsCredentials()
    session = boto3.session.Session(
        profile_name=creds.profile_name,
        aws_access_key_id=creds.aws_access_key_id,
        aws_secret_access_key=creds.aws_secret_access_key,
        aws_session_token=creds.aws_session_token,
    )
    config = Config(
        # total_max_attempts counts the first try too (botocore's max_attempts would count retries only)
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        connect_timeout=min(timeout_s, 10.0),
        read_timeout=timeout_s,
        user_agent_extra="headroom",
    )
    return session.client(service, region_name=region_name, endpoint_url=endpoint_url or None, config=config)


class Pager:
    """Follows a paginated read's cursor (NextToken, NextPageToken), refusing a token seen before and
    more than `max_pages` pages: either means the endpoint would keep the loop (and the bill) going."""

    def __init__(self, source: str, action: str, token_name: str, max_pages: int = MAX_PAGES):
        self.source, self.action, self.token_name, self.max_pages = source, action, token_name, max_pages
        self.pages = 0
        self._seen: set[str] = set()

    def more(self, token: str | None) -> bool:
        """Call after each page with its token: True if the next page should be fetched."""
        self.pages += 1
        if not token:
            return False
        if token in self._seen:
            raise SourceError(
                self.source,
                f"{self.action} returned the same {self.token_name} twice (after page {self.pages}); stopped "
                "instead of requesting the same page again",
                query=self.action,
            )
        if self.pages >= self.max_pages:
            raise SourceError(
                self.source,
                f"{self.action} still had more pages after {self.max_pages} pages; stopped so that a "
                "misbehaving endpoint cannot run up calls (ask for a shorter time range)",
                query=self.action,
            )
        self._seen.add(token)
        return True


def source_error(source: str, action: str, exc: BaseException, max_attempts: int) -> SourceError:
    """Translate a boto3/botocore failure of `action` (e.g. 'GetMetricData') into a SourceError."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        if code in THROTTLING_CODES:
            why = f"AWS kept throttling {action} ({code}) after {max_attempts} attempts; try again shortly"
        elif code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            why = f"{action} was denied ({code}): the credentials need permission for it. {message}"
        elif code in (
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
        ):
            why = f"{action} was refused because the AWS credentials are invalid or expired ({code})"
        else:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            why = f"{action} failed ({code}{f', HTTP {status}' if status else ''}): {message or 'no reason given'}"
    elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
        why = (
            f"no usable AWS credentials for {action}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, use an instance/task role, or [connections.aws] in secrets.toml"
        )
    elif isinstance(exc, NoRegionError):
        why = f"no AWS region for {action}: set region_name in the config"
    elif isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        why = f"{action} timed out ({type(exc).__name__})"
    elif isinstance(exc, EndpointConnectionError):
        why = f"could not connect to the AWS endpoint for {action}: {exc}"
    elif isinstance(exc, ParamValidationError):
        why = f"{action} was called with invalid parameters: {exc}"
    elif isinstance(exc, BotoCoreError):
        why = f"{action} failed: {exc}"
    else:
        why = f"{action} failed unexpectedly: {type(exc).__name__}: {exc}"
    return SourceError(source, why, query=action)
