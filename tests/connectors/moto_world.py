"""The production the shipped config describes, created in a real moto_server over HTTP: the ECS services,
the Auto Scaling group, the scalable target and the Route 53 records the AWS executor's tests and the
two-replica browser test act on."""

from __future__ import annotations

from typing import Any

import boto3

ROUTE53_WEIGHTS = {
    "us-east-1": 32,
    "us-west-2": 18,
    "eu-west-1": 17,
    "eu-central-1": 12,
    "ap-northeast-1": 14,
    "ap-southeast-1": 7,
}


def client(url: str, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, region_name=region, endpoint_url=url)


def seed(url: str) -> str:
    """The production the shipped config describes, created in moto; returns the hosted zone id."""
    task = {"family": "api", "containerDefinitions": [{"name": "api", "image": "nginx", "memory": 512}]}
    for region, desired in (("us-east-1", 6), ("us-west-2", 4)):
        ecs = client(url, "ecs", region)
        ecs.create_cluster(clusterName=f"headroom-{region}")
        ecs.register_task_definition(**task)
        ecs.create_service(
            cluster=f"headroom-{region}", serviceName="api", taskDefinition="api", desiredCount=desired
        )
    client(url, "ec2", "ap-southeast-1").create_launch_template(
        LaunchTemplateName="api-template",
        LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.small"},
    )
    client(url, "autoscaling", "ap-southeast-1").create_auto_scaling_group(
        AutoScalingGroupName="api-ap-southeast-1",
        MinSize=2,
        MaxSize=20,
        DesiredCapacity=3,
        LaunchTemplate={"LaunchTemplateName": "api-template"},
        AvailabilityZones=["ap-southeast-1a"],
    )
    client(url, "application-autoscaling", "us-west-2").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/headroom-us-west-2/api",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=4,
        MaxCapacity=60,
    )
    r53 = client(url, "route53")
    zone = r53.create_hosted_zone(Name="example.internal.", CallerReference="headroom-tests")["HostedZone"][
        "Id"
    ]
    health = r53.create_health_check(
        CallerReference="eu-west-1",
        HealthCheckConfig={
            "Type": "HTTPS",
            "FullyQualifiedDomainName": "api.eu-west-1.example.com",
            "Port": 443,
            "ResourcePath": "/health",
        },
    )["HealthCheck"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.example.internal.",
                "Type": "CNAME",
                "SetIdentifier": region,
                "Weight": weight,
                "TTL": 60,
                "ResourceRecords": [{"Value": f"api.{region}.example.com"}],
            },
        }
        for region, weight in ROUTE53_WEIGHTS.items()
    ]
    for region, role in (("eu-west-1", "PRIMARY"), ("eu-central-1", "SECONDARY")):
        record = {
            "Name": "eu.api.example.internal.",
            "Type": "CNAME",
            "SetIdentifier": region,
            "Failover": role,
            "TTL": 60,
            "ResourceRecords": [{"Value": f"api.{region}.example.com"}],
        }
        if role == "PRIMARY":
            record["HealthCheckId"] = health
        changes.append({"Action": "CREATE", "ResourceRecordSet": record})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return zone
