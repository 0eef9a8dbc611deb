"""Seeding moto_server for the AWS read connectors (tests and the browser run): CloudFront metrics in
CloudWatch via put_metric_data, and queued Cost Explorer results via moto's seeding API."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import boto3

from connectors.cloudwatch import NAMESPACE

EC2 = "Amazon Elastic Compute Cloud - Compute"
CDN = "Amazon CloudFront"


def cloudfront_sample(dist_index: int, minute: int) -> dict[str, float]:
    """CloudFront values of distribution i at minute m (deterministic, distinct per distribution)."""
    requests = 600.0 * (dist_index + 1) + 10 * (minute % 7)
    return {
        "Requests": requests,
        "BytesDownloaded": requests * (20_000 + 5_000 * dist_index),
        "CacheHitRate": 80.0 + 5 * dist_index + (minute % 3),
        "4xxErrorRate": 1.0 + 0.1 * dist_index,
        "5xxErrorRate": 0.2 * (1 + (minute % 2)),
    }


def put_cloudfront_data(
    endpoint: str, dists: Mapping[str, str], start: datetime, minutes: int, every_minutes: int = 1
) -> None:
    """put_metric_data for each distribution, one point per `every_minutes` from `start`."""
    cw = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",  # moto accepts any credentials
        aws_secret_access_key="testing",
    )
    data = []
    for i, dist in enumerate(dists):
        for m in range(0, minutes, every_minutes):
            for name, value in cloudfront_sample(i, m).items():
                data.append(
                    {
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "DistributionId", "Value": dist},
                            {"Name": "Region", "Value": "Global"},
                        ],
                        "Timestamp": start + timedelta(minutes=m),
                        "Value": value,
                    }
                )
    for k in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[k : k + 1000])


def reset_moto(endpoint: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()


def ce_group(service: str, region: str, amount: float) -> dict:
    return {
        "Keys": [service, region],
        "Metrics": {"UnblendedCost": {"Amount": f"{amount:.10f}", "Unit": "USD"}},
    }


def ce_period(day: str, groups: list[dict], estimated: bool = False) -> dict:
    end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    return {"TimePeriod": {"Start": day, "End": end}, "Total": {}, "Groups": groups, "Estimated": estimated}


def seed_cost_and_usage(endpoint: str, *results: dict) -> None:
    """Queue GetCostAndUsage results in moto: each new set of request parameters takes the next one."""
    body = json.dumps({"results": [dict(r, DimensionValueAttributes=[]) for r in results]}).encode()
    req = urllib.request.Request(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 201:
            raise RuntimeError(f"moto refused the Cost Explorer seed: HTTP {resp.status}")
