"""ActionExecutor for AWS via boto3: ECS services, EC2 Auto Scaling groups, Application Auto Scaling
targets, and Route 53 weighted / failover records. Every apply() reads the target back so the caller can
verify what is really there. When the write succeeded but the read-back fails, apply() raises
core.ports.AppliedUnverified (a SourceError): the change ran once, and must be recorded as such, not as
a failure someone might retry.

Target params (config [[target]].params):
- ecs_service:        cluster, service
- autoscaling_group:  asg_name
- app_autoscaling:    service_namespace, resource_id, scalable_dimension
- route53_weighted:   hosted_zone_id or hosted_zone_name, record_name, [record_type]; one weighted record
                      per region, SetIdentifier = region code; weights are Route 53 integers 0..255
- route53_failover:   hosted_zone_id or hosted_zone_name, record_name, [record_type]; a PRIMARY and a
                      SECONDARY record, SetIdentifier = region code. Weights here mean 1 = PRIMARY, 0 = SECONDARY.
Optional `region_name` in params overrides the target's region for the client. Credentials come from
boto3's usual chain (environment, profile, instance role), never from the config file. Endpoints can be
overridden per service in config [aws].endpoint_urls (tests point them at moto_server).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.config import AwsExecutorConfig
from core.ports import AppliedUnverified, Change, SourceError, Target, TargetState

_RETRIES = {"mode": "standard", "max_attempts": 3}


def _client_error(service: str, action: str, exc: Exception) -> SourceError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return SourceError(
            f"aws {service}", f"{action} failed: {err.get('Code', 'error')}: {err.get('Message', exc)}"
        )
    return SourceError(f"aws {service}", f"{action} failed: {exc}")


def _dns(name: str) -> str:
    return name.strip().lower().rstrip(".") + "."


class AwsExecutor:
    """ActionExecutor over boto3. Clients are made once per (service, region) under a lock: boto3 clients
    are thread-safe, sessions are not, and making a session per call costs tens of milliseconds."""

    name = "aws"

    def __init__(
        self,
        config: AwsExecutorConfig,
        session: boto3.session.Session | None = None,
        credentials: Mapping[str, str] | None = None,
    ):
        self.config = config
        self._session = session
        self._credentials = dict(credentials or {})
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str, region: str | None) -> Any:
        key = (service, region or self.config.region_name)
        with self._lock:
            if key not in self._clients:
                session = self._session or boto3.session.Session(**self._credentials)
                self._clients[key] = session.client(
                    service,
                    region_name=key[1],
                    endpoint_url=self.config.endpoint_urls.get(service) or None,
                    config=Config(retries=_RETRIES, connect_timeout=5, read_timeout=20),
                )
            return self._clients[key]

    @staticmethod
    def _param(target: Target, key: str) -> str:
        value = target.params.get(key)
        if not value:
            raise SourceError("aws", f"target {target.name} ({target.kind}) needs params.{key} in the config")
        return value

    def _region(self, target: Target) -> str:
        return target.params.get("region_name") or target.region or self.config.region_name

    # -- ActionExecutor ------------------------------------------------------------------------------
    def current(self, target: Target) -> TargetState:
        reader = {
            "ecs_service": self._ecs_current,
            "autoscaling_group": self._asg_current,
            "app_autoscaling": self._aas_current,
            "route53_weighted": self._r53_current,
            "route53_failover": self._r53_current,
        }.get(target.kind)
        if reader is None:
            raise SourceError("aws", f"target kind {target.kind!r} is not supported")
        return reader(target)

    def apply(self, target: Target, change: Change) -> TargetState:
        writer = {
            "ecs_service": self._ecs_apply,
            "autoscaling_group": self._asg_apply,
            "app_autoscaling": self._aas_apply,
            "route53_weighted": self._r53_weighted_apply,
            "route53_failover": self._r53_failover_apply,
        }.get(target.kind)
        if writer is None:
            raise SourceError("aws", f"target kind {target.kind!r} is not supported")
        writer(target, change)  # a SourceError here: nothing was applied
        try:
            return self.current(target)  # read back: what is really there now
        except Exception as exc:  # the write went through whatever the read-back did
            why = exc.message if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
            raise AppliedUnverified(
                f"aws {target.kind}",
                f"the change to {target.name} was applied, but it could not be read back ({why}); "
                "it ran once: check the target before doing anything again",
                requested=change,
                read_back_error=why,
            ) from exc

    # -- ECS -----------------------------------------------------------------------------------------
    def _ecs_current(self, target: Target) -> TargetState:
        cluster, service = self._param(target, "cluster"), self._param(target, "service")
        try:
            out = self._client("ecs", self._region(target)).describe_services(
                cluster=cluster, services=[service]
            )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("ecs", f"describe_services {cluster}/{service}", exc) from exc
        found = [s for s in out.get("services", []) if s.get("status") != "INACTIVE"]
        if not found:
            reason = (out.get("failures") or [{}])[0].get("reason", "not found")
            raise SourceError(
                "aws ecs", f"service {service} in cluster {cluster} ({self._region(target)}): {reason}"
            )
        svc = found[0]
        return TargetState(
            desired=int(svc["desiredCount"]),
            raw={
                "running": svc.get("runningCount"),
                "pending": svc.get("pendingCount"),
                "arn": svc.get("serviceArn"),
            },
        )

    def _ecs_apply(self, target: Target, change: Change) -> None:
        if (
            change.desired is None
            or change.min_instances is not None
            or change.max_instances is not None
            or change.weights is not None
        ):
            raise SourceError("aws ecs", "an ECS service change sets the desired count only")
        cluster, service = self._param(target, "cluster"), self._param(target, "service")
        try:
            self._client("ecs", self._region(target)).update_service(
                cluster=cluster, service=service, desiredCount=int(change.desired)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("ecs", f"update_service {cluster}/{service}", exc) from exc

    # -- EC2 Auto Scaling ----------------------------------------------------------------------------
    def _asg_current(self, target: Target) -> TargetState:
        name = self._param(target, "asg_name")
        try:
            out = self._client("autoscaling", self._region(target)).describe_auto_scaling_groups(
                AutoScalingGroupNames=[name]
            )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("autoscaling", f"describe_auto_scaling_groups {name}", exc) from exc
        groups = out.get("AutoScalingGroups", [])
        if not groups:
            raise SourceError(
                "aws autoscaling", f"Auto Scaling group {name} not found in {self._region(target)}"
            )
        g = groups[0]
        return TargetState(
            desired=int(g["DesiredCapacity"]),
            min_instances=int(g["MinSize"]),
            max_instances=int(g["MaxSize"]),
            raw={"instances": len(g.get("Instances", []))},
        )

    def _asg_apply(self, target: Target, change: Change) -> None:
        if change.weights is not None:
            raise SourceError("aws autoscaling", "weights do not apply to an Auto Scaling group")
        name = self._param(target, "asg_name")
        client = self._client("autoscaling", self._region(target))
        try:
            if change.min_instances is None and change.max_instances is None:
                client.set_desired_capacity(
                    AutoScalingGroupName=name, DesiredCapacity=int(change.desired), HonorCooldown=False
                )
                return
            args: dict[str, Any] = {"AutoScalingGroupName": name}
            if change.min_instances is not None:
                args["MinSize"] = int(change.min_instances)
            if change.max_instances is not None:
                args["MaxSize"] = int(change.max_instances)
            if change.desired is not None:
                args["DesiredCapacity"] = int(change.desired)
            client.update_auto_scaling_group(**args)
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("autoscaling", f"updating {name}", exc) from exc

    # -- Application Auto Scaling --------------------------------------------------------------------
    def _aas_ids(self, target: Target) -> tuple[str, str, str]:
        return (
            self._param(target, "service_namespace"),
            self._param(target, "resource_id"),
            self._param(target, "scalable_dimension"),
        )

    def _aas_current(self, target: Target) -> TargetState:
        namespace, resource, dimension = self._aas_ids(target)
        try:
            out = self._client("application-autoscaling", self._region(target)).describe_scalable_targets(
                ServiceNamespace=namespace, ResourceIds=[resource], ScalableDimension=dimension
            )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(
                "application-autoscaling", f"describe_scalable_targets {resource}", exc
            ) from exc
        found = out.get("ScalableTargets", [])
        if not found:
            raise SourceError(
                "aws application-autoscaling",
                f"scalable target {resource} ({dimension}) not registered in {self._region(target)}",
            )
        t = found[0]
        return TargetState(
            min_instances=int(t["MinCapacity"]),
            max_instances=int(t["MaxCapacity"]),
            raw={"resource_id": resource, "dimension": dimension},
        )

    def _aas_apply(self, target: Target, change: Change) -> None:
        if change.desired is not None or change.weights is not None:
            raise SourceError("aws application-autoscaling", "Application Auto Scaling sets min/max only")
        namespace, resource, dimension = self._aas_ids(target)
        args: dict[str, Any] = {
            "ServiceNamespace": namespace,
            "ResourceId": resource,
            "ScalableDimension": dimension,
        }
        if change.min_instances is not None:
            args["MinCapacity"] = int(change.min_instances)
        if change.max_instances is not None:
            args["MaxCapacity"] = int(change.max_instances)
        try:
            self._client("application-autoscaling", self._region(target)).register_scalable_target(**args)
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(
                "application-autoscaling", f"register_scalable_target {resource}", exc
            ) from exc

    # -- Route 53 ------------------------------------------------------------------------------------
    def _r53(self) -> Any:
        return self._client("route53", self.config.region_name)  # Route 53 is global

    def _zone_id(self, client: Any, target: Target) -> str:
        if target.params.get("hosted_zone_id"):
            return target.params["hosted_zone_id"]
        name = _dns(self._param(target, "hosted_zone_name"))
        try:
            zones = client.list_hosted_zones_by_name(DNSName=name, MaxItems="10").get("HostedZones", [])
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("route53", f"list_hosted_zones_by_name {name}", exc) from exc
        matching = [z for z in zones if _dns(z["Name"]) == name]
        if not matching:
            raise SourceError("aws route53", f"hosted zone {name} not found")
        if len(matching) > 1:
            raise SourceError(
                "aws route53", f"several hosted zones are named {name}: set params.hosted_zone_id"
            )
        return matching[0]["Id"]

    def _records(self, client: Any, zone_id: str, target: Target) -> list[dict[str, Any]]:
        """The record sets named params.record_name (all set identifiers), following pagination."""
        name = _dns(self._param(target, "record_name"))
        wanted_type = target.params.get("record_type")
        args: dict[str, Any] = {"HostedZoneId": zone_id, "StartRecordName": name}
        found: list[dict[str, Any]] = []
        try:
            while True:
                page = client.list_resource_record_sets(**args)
                done = False
                for r in page.get("ResourceRecordSets", []):
                    if _dns(r["Name"]) == name and (not wanted_type or r["Type"] == wanted_type):
                        found.append(r)
                    elif found:  # records of one name are contiguous: the block has ended
                        done = True
                        break
                if done or not page.get("IsTruncated"):
                    break
                args["StartRecordName"] = page["NextRecordName"]
                for key, arg in (
                    ("NextRecordType", "StartRecordType"),
                    ("NextRecordIdentifier", "StartRecordIdentifier"),
                ):
                    if page.get(key):
                        args[arg] = page[key]
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("route53", f"list_resource_record_sets {name}", exc) from exc
        if not found:
            raise SourceError("aws route53", f"no records named {name} in zone {zone_id}")
        return found

    def _r53_current(self, target: Target) -> TargetState:
        client = self._r53()
        zone = self._zone_id(client, target)
        records = self._records(client, zone, target)
        weights: dict[str, float] = {}
        if target.kind == "route53_weighted":
            for r in records:
                if "Weight" in r and r.get("SetIdentifier"):
                    weights[r["SetIdentifier"]] = float(r["Weight"])
            if not weights:
                raise SourceError(
                    "aws route53", f"{target.params.get('record_name')} has no weighted records"
                )
        else:
            for r in records:
                if r.get("Failover") and r.get("SetIdentifier"):
                    weights[r["SetIdentifier"]] = 1.0 if r["Failover"] == "PRIMARY" else 0.0
            if not weights:
                raise SourceError(
                    "aws route53", f"{target.params.get('record_name')} has no failover records"
                )
        return TargetState(weights=weights, raw={"hosted_zone_id": zone, "records": len(records)})

    def _r53_weighted_apply(self, target: Target, change: Change) -> None:
        if not change.weights:
            raise SourceError("aws route53", "a weighted-record change needs weights")
        bad = {k: v for k, v in change.weights.items() if not float(v).is_integer() or not 0 <= v <= 255}
        if bad:
            raise SourceError("aws route53", f"Route 53 weights are whole numbers 0..255, got {bad}")
        client = self._r53()
        zone = self._zone_id(client, target)
        by_id = {r.get("SetIdentifier"): r for r in self._records(client, zone, target) if "Weight" in r}
        missing = sorted(set(change.weights) - set(by_id))
        if missing:
            raise SourceError("aws route53", f"no weighted record with SetIdentifier {', '.join(missing)}")
        changes = []
        for set_id, weight in sorted(change.weights.items()):
            record = dict(by_id[set_id])
            record["Weight"] = int(weight)
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
        self._change(client, zone, changes, f"Headroom: weights {change.weights}")

    def _r53_failover_apply(self, target: Target, change: Change) -> None:
        if not change.weights:
            raise SourceError("aws route53", "a failover change names the new primary (weight 1)")
        primaries = [k for k, v in change.weights.items() if v == 1.0]
        if len(primaries) != 1:
            raise SourceError("aws route53", "a failover change needs exactly one new primary")
        client = self._r53()
        zone = self._zone_id(client, target)
        records = [r for r in self._records(client, zone, target) if r.get("Failover")]
        by_id = {r.get("SetIdentifier"): r for r in records}
        if primaries[0] not in by_id:
            raise SourceError("aws route53", f"no failover record with SetIdentifier {primaries[0]}")
        # one atomic batch: delete the pair and create it with the roles swapped (Route 53 applies a
        # batch all or nothing, so there is never a moment with two primaries or none)
        changes: list[dict[str, Any]] = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records]
        for r in records:
            new = dict(r)
            new["Failover"] = "PRIMARY" if r.get("SetIdentifier") == primaries[0] else "SECONDARY"
            changes.append({"Action": "CREATE", "ResourceRecordSet": new})
        self._change(client, zone, changes, f"Headroom: promote {primaries[0]}")

    @staticmethod
    def _change(client: Any, zone: str, changes: list[dict[str, Any]], comment: str) -> None:
        try:
            client.change_resource_record_sets(
                HostedZoneId=zone, ChangeBatch={"Comment": comment[:256], "Changes": changes}
            )
        except (ClientError, BotoCoreError) as exc:
            raise _client_error("route53", "change_resource_record_sets", exc) from exc
