"""Managed APIs in front of SageMaker endpoints and EKS deployments: the OpenAPI document and its
integration with the SageMaker runtime or, through a VPC link and an NLB, the EKS deployment's ALB;
authentication, consumers' keys and usage plans, the stage's logs and limits, WAF in prod, custom
domains and alarms; checked against the OpenAPI 3 schema, and replayed into moto's API Gateway and
Elastic Load Balancing on loopback; and the spec rules.

Given the samples: fraud-detector's default deployment (SageMaker) has an IAM-authenticated API with
two consumers, checkout (300 rps) and chargeback-review (20 rps, 200,000 a day);
car-damage-estimator's default deployment (EKS) a Cognito-authenticated one with two consumers;
fraud-detector's eu-enterprise deployment (EKS) an HTTP API accepting JWTs of Acme's OIDC issuer."""

from __future__ import annotations

import json

import boto3
import pytest
from openapi_spec_validator import validate as validate_openapi

from modelform import naming
from modelform.model_api import invocation_uri
from tests.conftest import DEPLOYMENT, HEADER, problems_of, resources_of, specs_with
from tests.model_code.conftest import aws, moto_endpoint  # noqa: F401 - fixtures

API = "fraud-detector-default-api"
ROLE_ARN = "arn:aws:iam::123456789012:role/fraud-detector-default-api-role"  # moto's account: it checks


def api_resources(plan: dict, model: str = "fraud-detector") -> dict[str, dict]:
    return {n: r["inputs"] for n, r in resources_of(plan, f"{model}.{plan['env']}").items() if "-api" in n}


def document(resources: dict[str, dict]) -> dict:
    return json.loads(resources[f"{API}-gateway"]["body"].replace("<fraud-detector-default-api-role.arn>", ROLE_ARN))


@pytest.fixture(scope="module")
def prod(sample_plans):
    return api_resources(sample_plans["prod"])


def test_the_openapi_document_is_valid_openapi_3(prod):
    validate_openapi(document(prod))  # raises on any violation of the OpenAPI 3.0 schema


def test_one_operation_calls_the_sagemaker_runtime_directly_as_its_own_role(prod):
    spec = document(prod)
    assert list(spec["paths"]) == ["/invocations"] and list(spec["paths"]["/invocations"]) == ["post"]
    integration = spec["paths"]["/invocations"]["post"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws" and integration["httpMethod"] == "POST"
    assert integration["uri"] == invocation_uri("us-east-1", "fraud-detector-default")
    assert integration["uri"] == (
        "arn:aws:apigateway:us-east-1:runtime.sagemaker:path//endpoints/fraud-detector-default/invocations"
    )
    assert integration["credentials"] == ROLE_ARN
    assert integration["requestParameters"] == {
        "integration.request.header.Content-Type": "method.request.header.Content-Type",
        "integration.request.header.Accept": "method.request.header.Accept",
    }
    assert integration["responses"] == {
        "default": {"statusCode": "200"},
        "4\\d{2}": {"statusCode": "400"},
        "5\\d{2}": {"statusCode": "500"},
    }
    assert integration["timeoutInMillis"] == 29000


def test_every_call_is_signed_and_carries_a_consumers_key(prod):
    spec = document(prod)
    assert spec["paths"]["/invocations"]["post"]["security"] == [{"sigv4": [], "api_key": []}]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}


def test_the_api_role_may_only_invoke_its_endpoint(prod):
    trust = json.loads(prod[f"{API}-role"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "<aws.accountId>"}}
    (allow,) = json.loads(prod[f"{API}-role-policy"]["policy"])["Statement"]
    assert allow["Action"] == ["sagemaker:InvokeEndpoint"]
    assert allow["Resource"] == ["arn:aws:sagemaker:us-east-1:<aws.accountId>:endpoint/fraud-detector-default"]


def test_the_stage_traces_logs_to_kms_and_throttles_without_caching_or_logging_bodies(prod):
    stage = prod[f"{API}-stage"]
    assert stage["stageName"] == "prod" and stage["xrayTracingEnabled"] is True
    assert stage["accessLogSettings"]["destinationArn"] == f"<{API}-access-logs.arn>"
    assert json.loads(stage["accessLogSettings"]["format"])["requestId"] == "$context.requestId"
    logs = prod[f"{API}-access-logs"]
    assert logs == {
        "name": "/aws/apigateway/fraud-detector-default",
        "kmsKeyId": "<acme-ml-key.arn>",
        "retentionInDays": 365,
    }
    settings = prod[f"{API}-settings"]
    assert settings["methodPath"] == "*/*"
    assert settings["settings"] == {
        "metricsEnabled": True,
        "loggingLevel": "ERROR",
        "dataTraceEnabled": False,
        "throttlingRateLimit": 400,
        "throttlingBurstLimit": 800,
        "cachingEnabled": False,
    }
    deployment = prod[f"{API}-deployment"]
    assert len(deployment["triggers"]["openapi"]) == 64  # a new deployment per document


def test_each_consumer_has_a_key_and_a_plan_with_its_limits(prod):
    for consumer, throttle, quota in (
        ("checkout", {"rateLimit": 300, "burstLimit": 600}, None),
        ("chargeback-review", {"rateLimit": 20, "burstLimit": 40}, {"limit": 200000, "period": "DAY"}),
    ):
        key = prod[f"{API}-{consumer}-key"]
        assert key["name"] == f"fraud-detector-default-{consumer}" and key["enabled"] is True and "value" not in key
        plan = prod[f"{API}-{consumer}-plan"]
        assert plan["apiStages"] == [{"apiId": f"<{API}-gateway.id>", "stage": "prod"}]
        assert plan["throttleSettings"] == throttle and plan.get("quotaSettings") == quota
        link = prod[f"{API}-{consumer}-plan-key"]
        assert link == {
            "keyId": f"<{API}-{consumer}-key.id>",
            "keyType": "API_KEY",
            "usagePlanId": f"<{API}-{consumer}-plan.id>",
        }


def test_prod_has_a_web_acl_with_a_rate_rule_and_logs(prod):
    acl = prod[f"{API}-waf"]
    assert acl["scope"] == "REGIONAL" and acl["defaultAction"] == {"allow": {}}
    rate, bad_inputs, anonymous = acl["rules"]
    assert rate["statement"] == {"rateBasedStatement": {"limit": 2000, "aggregateKeyType": "IP"}}
    assert rate["action"] == {"block": {}}
    assert bad_inputs["statement"]["managedRuleGroupStatement"]["name"] == "AWSManagedRulesKnownBadInputsRuleSet"
    assert bad_inputs["overrideAction"] == {"none": {}}  # the group's own block actions apply
    # Tor, anonymising VPNs and proxies are blocked; cloud hosts (partners' servers) only counted.
    assert anonymous["statement"]["managedRuleGroupStatement"] == {
        "name": "AWSManagedRulesAnonymousIpList",
        "vendorName": "AWS",
        "ruleActionOverrides": [{"name": "HostingProviderIPList", "actionToUse": {"count": {}}}],
    }
    assert anonymous["overrideAction"] == {"none": {}}
    assert [r["priority"] for r in acl["rules"]] == [0, 1, 2]
    assert prod[f"{API}-waf-association"] == {"resourceArn": f"<{API}-stage.arn>", "webAclArn": f"<{API}-waf.arn>"}
    assert prod[f"{API}-waf-logs"]["name"] == "aws-waf-logs-fraud-detector-default"
    assert prod[f"{API}-waf-logs"]["kmsKeyId"] == "<acme-ml-key.arn>"
    assert prod[f"{API}-waf-logging"]["logDestinationConfigs"] == [f"<{API}-waf-logs.arn>"]


def test_dev_has_no_web_acl(sample_plans):
    dev = api_resources(sample_plans["dev"])
    assert f"{API}-stage" in dev and not [n for n in dev if "-waf" in n]


def test_api_alarms_notify_the_alert_topic(prod):
    topic = ["<fraud-detector-monitoring-alerts.arn>"]
    expected = {
        f"{API}-5xx-rate": ("5XXError", 0.01),
        f"{API}-4xx-rate": ("4XXError", 0.05),
        f"{API}-p99-latency": ("Latency", 350),  # the model's 250 ms and the API's 100
    }
    for name, (metric, threshold) in expected.items():
        alarm = prod[name]
        assert (alarm["namespace"], alarm["metricName"], alarm["threshold"]) == ("AWS/ApiGateway", metric, threshold)
        assert alarm["dimensions"] == {"ApiName": "fraud-detector-default", "Stage": "prod"}
        assert alarm["alarmActions"] == topic


def test_the_platform_lets_api_gateway_write_only_api_logs(sample_plans):
    platform = resources_of(sample_plans["prod"], "acme-ml.prod")
    assert platform["acme-ml-apigateway-account"]["inputs"] == {
        "cloudwatchRoleArn": "<acme-ml-apigateway-logs-role.arn>"
    }
    statements = {
        s["Sid"]: s
        for s in json.loads(platform["acme-ml-apigateway-logs-role-policy"]["inputs"]["policy"])["Statement"]
    }
    assert statements["WriteApiLogs"]["Resource"] == [
        "arn:aws:logs:us-east-1:<aws.accountId>:log-group:/aws/apigateway/*",
        "arn:aws:logs:us-east-1:<aws.accountId>:log-group:/aws/apigateway/*:log-stream:*",
        "arn:aws:logs:us-east-1:<aws.accountId>:log-group:API-Gateway-Execution-Logs_*",
        "arn:aws:logs:us-east-1:<aws.accountId>:log-group:API-Gateway-Execution-Logs_*:log-stream:*",
    ]


def test_cognito_and_a_custom_domain():
    specs = specs_with(
        "fraud-detector.yaml",
        "      auth: iam\n",
        "      auth: cognito\n"
        "      cognito_user_pools: [arn:aws:cognito-idp:us-east-1:444455556666:userpool/us-east-1_Merchants]\n"
        "      domain: {name: fraud.api.acme.example, certificate_arn: "
        "arn:aws:acm:us-east-1:444455556666:certificate/1f2e3d4c}\n",
    )
    assert specs.errors == []
    from modelform.plan import plan_environment

    planned = api_resources(plan_environment(specs, "prod", models=["fraud-detector"], progress=False))
    spec = json.loads(planned[f"{API}-gateway"]["body"])
    assert spec["paths"]["/invocations"]["post"]["security"] == [{"cognito": [], "api_key": []}]
    assert spec["components"]["securitySchemes"]["cognito"]["x-amazon-apigateway-authorizer"] == {
        "type": "cognito_user_pools",
        "providerARNs": ["arn:aws:cognito-idp:us-east-1:444455556666:userpool/us-east-1_Merchants"],
    }
    assert planned[f"{API}-gateway"]["disableExecuteApiEndpoint"] is True  # only through the custom domain
    domain = planned[f"{API}-domain"]
    assert (domain["domainName"], domain["securityPolicy"]) == ("fraud.api.acme.example", "TLS_1_2")
    assert domain["regionalCertificateArn"] == "arn:aws:acm:us-east-1:444455556666:certificate/1f2e3d4c"
    assert planned[f"{API}-path"]["stageName"] == "prod"


# --- EKS: API Gateway -> VPC link -> NLB -> the Ingress's ALB -> the variants' pods ---------------

EKS_API = "car-damage-estimator-default-api"
ALB = "car-damage-estimator-default"  # the Ingress's load balancer, named by modelform


@pytest.fixture(scope="module")
def eks_prod(sample_plans):
    return api_resources(sample_plans["prod"], "car-damage-estimator")


def eks_document(resources: dict[str, dict]) -> dict:
    return json.loads(resources[f"{EKS_API}-gateway"]["body"])


def test_the_eks_document_is_valid_openapi_3(eks_prod):
    validate_openapi(eks_document(eks_prod))


def test_an_eks_api_proxies_through_its_vpc_link_to_its_own_load_balancer(eks_prod):
    (operation,) = eks_document(eks_prod)["paths"]["/invocations"].values()
    assert operation["x-amazon-apigateway-integration"] == {
        "type": "http_proxy",  # status, headers and body as the serving container answers them
        "httpMethod": "POST",
        "uri": f"http://<{EKS_API}-nlb.dnsName>:80/invocations",
        "connectionType": "VPC_LINK",
        "connectionId": f"<{EKS_API}-vpc-link.id>",
        "passthroughBehavior": "when_no_match",
        "timeoutInMillis": 29000,
    }
    assert eks_prod[f"{EKS_API}-vpc-link"]["targetArn"] == f"<{EKS_API}-nlb.arn>"
    # No credentials: API Gateway calls no AWS API for an EKS deployment.
    assert f"{EKS_API}-role" not in eks_prod
    assert "credentials" not in operation["x-amazon-apigateway-integration"]


def test_the_nlb_is_internal_and_forwards_to_the_ingress_alb(eks_prod, sample_plans):
    nlb = eks_prod[f"{EKS_API}-nlb"]
    assert nlb["internal"] is True and nlb["loadBalancerType"] == "network"
    assert nlb["subnets"] == ["<acme-ml-private-1.id>", "<acme-ml-private-2.id>", "<acme-ml-private-3.id>"]
    assert nlb["enableCrossZoneLoadBalancing"] is True
    assert nlb["enableDeletionProtection"] is True  # prod
    assert nlb["name"] == naming.api_load_balancer("car-damage-estimator", "default")
    listener = eks_prod[f"{EKS_API}-listener"]
    assert (listener["port"], listener["protocol"], listener["loadBalancerArn"]) == (80, "TCP", f"<{EKS_API}-nlb.arn>")
    assert listener["defaultActions"] == [{"type": "forward", "targetGroupArn": f"<{EKS_API}-alb-targets.arn>"}]
    targets = eks_prod[f"{EKS_API}-alb-targets"]
    assert (targets["targetType"], targets["protocol"], targets["port"]) == ("alb", "TCP", 80)
    assert targets["vpcId"] == "<acme-ml-vpc.id>"
    assert targets["healthCheck"] == {"protocol": "HTTP", "path": "/ping", "port": "80", "matcher": "200"}
    # The target is the ALB the load balancer controller made for the Ingress, found by its name.
    attachment = eks_prod[f"{EKS_API}-alb-target"]
    assert attachment == {
        "targetGroupArn": f"<{EKS_API}-alb-targets.arn>",
        "targetId": f"<aws.loadBalancer[{ALB}].arn>",
        "port": 80,
    }
    ingress = resources_of(sample_plans["prod"], "car-damage-estimator.prod")["car-damage-estimator-default-ingress"]
    annotations = ingress["inputs"]["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/load-balancer-name"] == ALB
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}]'


def test_every_ingress_alb_is_open_to_the_vpc_only(sample_plans):
    ingresses = [
        r["inputs"]
        for s in sample_plans["prod"]["stacks"]
        for r in s["resources"]
        if r["type"] == "kubernetes:networking.k8s.io/v1:Ingress"
    ]
    assert len(ingresses) == 2  # car-damage-estimator's and fraud-detector's eu-enterprise
    for ingress in ingresses:
        annotations = ingress["metadata"]["annotations"]
        assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
        assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "10.40.0.0/16"  # the platform's VPC


def test_an_eks_api_has_the_same_guards_as_a_sagemaker_one(eks_prod):
    (operation,) = eks_document(eks_prod)["paths"]["/invocations"].values()
    assert operation["security"] == [{"cognito": [], "api_key": []}]
    schemes = eks_document(eks_prod)["components"]["securitySchemes"]
    assert schemes["cognito"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Claims01"
    ]
    assert {n for n in eks_prod if n.endswith("-plan")} == {
        f"{EKS_API}-adjuster-portal-plan",
        f"{EKS_API}-partner-garages-plan",
    }
    assert eks_prod[f"{EKS_API}-partner-garages-plan"]["quotaSettings"] == {"limit": 20000, "period": "DAY"}
    assert eks_prod[f"{EKS_API}-waf-association"]["resourceArn"] == f"<{EKS_API}-stage.arn>"
    assert {f"{EKS_API}-{a}" for a in ("5xx-rate", "4xx-rate", "p99-latency")} <= set(eks_prod)


def test_the_eks_api_waits_for_what_it_calls(sample_plans):
    stack = resources_of(sample_plans["prod"], "car-damage-estimator.prod")
    urns = {name: r["urn"] for name, r in stack.items()}
    assert stack[f"{EKS_API}-stage"]["options"]["dependsOn"] == [urns["car-damage-estimator-default-ingress"]]
    assert set(stack[f"{EKS_API}-deployment"]["options"]["dependsOn"]) == {
        urns[f"{EKS_API}-listener"],
        urns[f"{EKS_API}-alb-target"],
        urns[f"{EKS_API}-vpc-link"],
    }


def test_dev_eks_nlb_can_be_deleted(sample_plans):
    dev = api_resources(sample_plans["dev"], "car-damage-estimator")
    assert dev[f"{EKS_API}-nlb"]["enableDeletionProtection"] is False


# --- EKS with any OpenID Connect issuer's JWTs: an HTTP API -----------------------------------------

JWT_API = "fraud-detector-eu-enterprise-api"
ISSUER = "https://login.acme.example/oauth2/default"


@pytest.fixture(scope="module")
def jwt_prod(prod):
    return {name: inputs for name, inputs in prod.items() if name.startswith(f"{JWT_API}-")}


def test_a_jwt_api_is_an_http_api_verifying_the_issuers_tokens(jwt_prod):
    gateway = jwt_prod[f"{JWT_API}-gateway"]
    assert (gateway["protocolType"], gateway["name"]) == ("HTTP", "fraud-detector-eu-enterprise")
    assert jwt_prod[f"{JWT_API}-jwt"] == {
        "apiId": f"<{JWT_API}-gateway.id>",
        "name": "fraud-detector-eu-enterprise-jwt",
        "authorizerType": "JWT",
        "identitySources": ["$request.header.Authorization"],
        "jwtConfiguration": {"issuer": ISSUER, "audiences": ["fraud-eu-enterprise"]},
    }
    route = jwt_prod[f"{JWT_API}-route"]
    assert route == {
        "apiId": f"<{JWT_API}-gateway.id>",
        "routeKey": "POST /invocations",  # the one operation; any other path or method finds no route
        "target": f"integrations/<{JWT_API}-integration.id>",
        "authorizationType": "JWT",
        "authorizerId": f"<{JWT_API}-jwt.id>",
    }


def test_a_jwt_api_reaches_the_alb_listener_through_its_own_vpc_link(jwt_prod):
    integration = jwt_prod[f"{JWT_API}-integration"]
    assert integration["integrationType"] == "HTTP_PROXY" and integration["integrationMethod"] == "POST"
    # The listener of the ALB the controller made for the Ingress (named by modelform), looked up.
    assert integration["integrationUri"] == "<aws.loadBalancer[fraud-detector-eu-enterprise].listener[80].arn>"
    assert (integration["connectionType"], integration["connectionId"]) == ("VPC_LINK", f"<{JWT_API}-vpc-link.id>")
    assert integration["timeoutMilliseconds"] == 29000
    link = jwt_prod[f"{JWT_API}-vpc-link"]
    assert link["subnetIds"] == ["<acme-ml-private-1.id>", "<acme-ml-private-2.id>", "<acme-ml-private-3.id>"]
    assert link["securityGroupIds"] == [f"<{JWT_API}-link-sg.id>"]
    group = jwt_prod[f"{JWT_API}-link-sg"]
    assert "ingress" not in group or group["ingress"] == []
    assert group["egress"] == [
        {
            "protocol": "tcp",
            "fromPort": 80,
            "toPort": 80,
            "cidrBlocks": ["10.40.0.0/16"],
            "description": "to the deployment's ALB (open to the VPC only)",
        }
    ]


def test_a_jwt_api_stage_logs_throttles_and_waits_for_the_ingress(jwt_prod, sample_plans):
    stage = jwt_prod[f"{JWT_API}-stage"]
    assert (stage["name"], stage["autoDeploy"]) == ("prod", True)
    assert stage["defaultRouteSettings"] == {
        "throttlingRateLimit": 200,
        "throttlingBurstLimit": 400,
        "detailedMetricsEnabled": True,
    }
    assert stage["accessLogSettings"]["destinationArn"] == f"<{JWT_API}-access-logs.arn>"
    line = json.loads(stage["accessLogSettings"]["format"])
    assert (
        line["subject"] == "$context.authorizer.claims.sub" and line["authorizerError"] == "$context.authorizer.error"
    )
    logs = jwt_prod[f"{JWT_API}-access-logs"]
    assert (logs["name"], logs["kmsKeyId"]) == ("/aws/apigateway/fraud-detector-eu-enterprise", "<acme-ml-key.arn>")
    stack = resources_of(sample_plans["prod"], "fraud-detector.prod")
    assert set(stack[f"{JWT_API}-stage"]["options"]["dependsOn"]) == {
        stack["fraud-detector-eu-enterprise-ingress"]["urn"],
        stack[f"{JWT_API}-route"]["urn"],
    }


def test_a_jwt_api_has_no_keys_nlb_or_waf_and_alarms_by_api_id(jwt_prod):
    kinds = {name.removeprefix(f"{JWT_API}-") for name in jwt_prod}
    assert kinds == {
        "access-logs",
        "gateway",
        "jwt",
        "integration",
        "route",
        "stage",
        "vpc-link",
        "link-sg",
        "5xx-rate",
        "4xx-rate",
        "p99-latency",
    }
    errors = jwt_prod[f"{JWT_API}-5xx-rate"]
    assert (errors["metricName"], errors["statistic"], errors["namespace"]) == ("5xx", "Average", "AWS/ApiGateway")
    assert errors["dimensions"] == {"ApiId": f"<{JWT_API}-gateway.id>", "Stage": "prod"}
    assert jwt_prod[f"{JWT_API}-4xx-rate"]["metricName"] == "4xx"
    assert jwt_prod[f"{JWT_API}-p99-latency"]["extendedStatistic"] == "p99"


def test_the_nlb_takes_an_alb_as_its_target_and_api_gateway_links_to_it(aws, eks_prod):  # noqa: F811
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    elb = boto3.client("elbv2", region_name="us-east-1")
    # What the load balancer controller makes for the Ingress, under the name the plan gave it.
    alb = elb.create_load_balancer(Name=ALB, Subnets=subnets, Scheme="internal", Type="application")
    alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    nlb_inputs, target_inputs = eks_prod[f"{EKS_API}-nlb"], eks_prod[f"{EKS_API}-alb-targets"]
    nlb = elb.create_load_balancer(
        Name=nlb_inputs["name"], Subnets=subnets, Scheme="internal", Type=nlb_inputs["loadBalancerType"]
    )["LoadBalancers"][0]
    group = elb.create_target_group(
        Name=target_inputs["name"],
        TargetType=target_inputs["targetType"],
        Protocol=target_inputs["protocol"],
        Port=target_inputs["port"],
        VpcId=vpc,
        HealthCheckProtocol=target_inputs["healthCheck"]["protocol"],
        HealthCheckPath=target_inputs["healthCheck"]["path"],
    )["TargetGroups"][0]
    # The lookup the program makes once the Ingress is up finds that ALB by its name.
    (found,) = elb.describe_load_balancers(Names=[ALB])["LoadBalancers"]
    assert found["LoadBalancerArn"] == alb_arn
    elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": alb_arn, "Port": 80}])
    (health,) = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
    assert health["Target"]["Id"] == alb_arn
    elb.create_listener(
        LoadBalancerArn=nlb["LoadBalancerArn"],
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    gateway = boto3.client("apigateway", region_name="us-east-1")
    link = gateway.create_vpc_link(name=eks_prod[f"{EKS_API}-vpc-link"]["name"], targetArns=[nlb["LoadBalancerArn"]])
    body = json.dumps(eks_document(eks_prod))
    body = body.replace(f"<{EKS_API}-nlb.dnsName>", nlb["DNSName"]).replace(f"<{EKS_API}-vpc-link.id>", link["id"])
    api = gateway.import_rest_api(body=body.encode(), parameters={"endpointConfigurationTypes": "REGIONAL"})
    (invocations,) = [r for r in gateway.get_resources(restApiId=api["id"])["items"] if r["path"] == "/invocations"]
    assert set(invocations["resourceMethods"]) == {"POST"}
    assert gateway.get_vpc_link(vpcLinkId=link["id"])["targetArns"] == [nlb["LoadBalancerArn"]]


def test_api_gateway_imports_the_document_and_meters_the_consumers(aws, prod):  # noqa: F811
    client = boto3.client("apigateway", region_name="us-east-1")
    api = client.import_rest_api(
        body=json.dumps(document(prod)).encode(), parameters={"endpointConfigurationTypes": "REGIONAL"}
    )
    resources = client.get_resources(restApiId=api["id"])["items"]
    (invocations,) = [r for r in resources if r["path"] == "/invocations"]
    assert set(invocations["resourceMethods"]) == {"POST"}
    client.create_deployment(restApiId=api["id"], stageName="prod")
    for consumer in ("checkout", "chargeback-review"):
        plan_inputs = prod[f"{API}-{consumer}-plan"]
        key = client.create_api_key(name=prod[f"{API}-{consumer}-key"]["name"], enabled=True)
        plan = client.create_usage_plan(
            name=plan_inputs["name"],
            apiStages=[{"apiId": api["id"], "stage": "prod"}],
            throttle={
                "rateLimit": plan_inputs["throttleSettings"]["rateLimit"],
                "burstLimit": plan_inputs["throttleSettings"]["burstLimit"],
            },
            **({"quota": plan_inputs["quotaSettings"]} if "quotaSettings" in plan_inputs else {}),
        )
        client.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    plans = {p["name"]: p for p in client.get_usage_plans()["items"]}
    assert plans["fraud-detector-default-chargeback-review"]["quota"] == {"limit": 200000, "period": "DAY"}
    assert plans["fraud-detector-default-checkout"]["throttle"] == {"rateLimit": 300.0, "burstLimit": 600}


def test_the_http_api_is_accepted_as_planned_by_api_gateway(aws, jwt_prod):  # noqa: F811
    gateway = boto3.client("apigatewayv2", region_name="us-east-1")
    planned = jwt_prod[f"{JWT_API}-gateway"]
    api = gateway.create_api(Name=planned["name"], ProtocolType=planned["protocolType"])
    jwt = jwt_prod[f"{JWT_API}-jwt"]
    authorizer = gateway.create_authorizer(
        ApiId=api["ApiId"],
        Name=jwt["name"],
        AuthorizerType=jwt["authorizerType"],
        IdentitySource=jwt["identitySources"],
        JwtConfiguration={
            "Issuer": jwt["jwtConfiguration"]["issuer"],
            "Audience": jwt["jwtConfiguration"]["audiences"],
        },
    )
    link = gateway.create_vpc_link(Name=jwt_prod[f"{JWT_API}-vpc-link"]["name"], SubnetIds=["subnet-1", "subnet-2"])
    planned_integration = jwt_prod[f"{JWT_API}-integration"]
    listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/fraud-detector-eu-enterprise/1/2"
    integration = gateway.create_integration(
        ApiId=api["ApiId"],
        IntegrationType=planned_integration["integrationType"],
        IntegrationMethod=planned_integration["integrationMethod"],
        IntegrationUri=listener,
        ConnectionType=planned_integration["connectionType"],
        ConnectionId=link["VpcLinkId"],
        PayloadFormatVersion=planned_integration["payloadFormatVersion"],
        TimeoutInMillis=planned_integration["timeoutMilliseconds"],
    )
    route = jwt_prod[f"{JWT_API}-route"]
    gateway.create_route(
        ApiId=api["ApiId"],
        RouteKey=route["routeKey"],
        Target=f"integrations/{integration['IntegrationId']}",
        AuthorizationType=route["authorizationType"],
        AuthorizerId=authorizer["AuthorizerId"],
    )
    stage = jwt_prod[f"{JWT_API}-stage"]
    gateway.create_stage(ApiId=api["ApiId"], StageName=stage["name"], AutoDeploy=stage["autoDeploy"])
    (found,) = gateway.get_routes(ApiId=api["ApiId"])["Items"]
    assert (found["RouteKey"], found["AuthorizationType"]) == ("POST /invocations", "JWT")
    kept = gateway.get_authorizer(ApiId=api["ApiId"], AuthorizerId=authorizer["AuthorizerId"])
    assert kept["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": ["fraud-eu-enterprise"]}
    assert (
        gateway.get_integration(ApiId=api["ApiId"], IntegrationId=integration["IntegrationId"])["ConnectionId"]
        == link["VpcLinkId"]
    )


# --- rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "api, expected",
    [
        (
            "    api: {auth: cognito}\n",
            "specs/m.yaml:12:10: deployments[0].api.cognito_user_pools: required for auth cognito: the user pools "
            "whose tokens are accepted",
        ),
        (
            "    api: {cognito_user_pools: ['arn:aws:cognito-idp:us-east-1:111122223333:userpool/p']}\n",
            "specs/m.yaml:12:31: deployments[0].api.cognito_user_pools: applies only to auth cognito (auth is iam)",
        ),
        (
            "    api: {consumers: [{name: a, rate: 1, burst: 1}, {name: a, rate: 2, burst: 2}]}\n",
            "specs/m.yaml:12:60: deployments[0].api.consumers[1].name: consumer name 'a' is used more than once",
        ),
        (
            "    api: {auth: basic}\n",
            "specs/m.yaml:12:17: deployments[0].api.auth: must be one of iam, cognito, jwt (got string 'basic')",
        ),
    ],
)
def test_api_rules(repo, api, expected):
    assert problems_of(repo, HEADER + DEPLOYMENT + api) == [expected]


EKS_DEPLOYMENT = (
    "deployments:\n  - name: default\n    target: eks\n    cluster: serving\n"
    "    variants: [{name: current, model_version: 1}]\n"
)


@pytest.mark.parametrize(
    "api, expected",
    [
        (
            "    api: {auth: jwt}\n",
            "specs/m.yaml:12:10: deployments[0].api.jwt: required for auth jwt: the issuer and audiences whose "
            "tokens are accepted",
        ),
        (
            "    api: {auth: cognito, cognito_user_pools: ['arn:aws:cognito-idp:us-east-1:111122223333:userpool/p'], "
            "jwt: {issuer: 'https://id.example', audiences: [a]}}\n",
            "specs/m.yaml:12:110: deployments[0].api.jwt: applies only to auth jwt (auth is cognito)",
        ),
        (
            "    api: {auth: jwt, jwt: {issuer: 'https://id.example', audiences: [a]}, "
            "consumers: [{name: a, rate: 1, burst: 1}]}\n",
            "specs/m.yaml:12:86: deployments[0].api.consumers: auth jwt makes an HTTP API, which has no API keys or "
            "usage plans: throttle the API with `rate` and `burst`, or use auth cognito or iam for per-consumer keys",
        ),
        (
            "    api: {auth: jwt, jwt: {issuer: 'http://id.example', audiences: [a]}}\n",
            "specs/m.yaml:12:36: deployments[0].api.jwt.issuer: 'http://id.example' must be the pattern "
            "^https://[^\\s/]+(/\\S*)?$",
        ),
        (
            "    api: {auth: jwt, jwt: {issuer: 'https://id.example', audiences: []}}\n",
            "specs/m.yaml:12:69: deployments[0].api.jwt.audiences: must have at least 1 item (got 0)",
        ),
    ],
)
def test_jwt_api_rules(repo, api, expected):
    assert problems_of(repo, HEADER + EKS_DEPLOYMENT + api) == [expected]


def test_a_sagemaker_endpoint_takes_no_jwt_api(repo):
    text = HEADER + DEPLOYMENT + "    api: {auth: jwt, jwt: {issuer: 'https://id.example', audiences: [a]}}\n"
    assert problems_of(repo, text) == [
        "specs/m.yaml:12:17: deployments[0].api.auth: jwt needs an HTTP API, and HTTP APIs cannot call SageMaker "
        "without a Lambda in the path: use auth cognito (a user pool can federate your OpenID Connect issuer) or iam"
    ]


def test_an_eks_deployment_may_have_a_managed_api(repo):
    text = HEADER + (
        "deployments:\n  - name: default\n    target: eks\n    cluster: serving\n"
        "    variants: [{name: current, model_version: 1}]\n    api: {}\n"
    )
    assert problems_of(repo, text) == []


def test_an_asynchronous_deployment_cannot_have_a_managed_api(repo):
    text = HEADER + DEPLOYMENT + "    async: {}\n    api: {}\n"
    assert problems_of(repo, text) == [
        "specs/m.yaml:13:10: deployments[0].api: asynchronous endpoints are invoked with InvokeEndpointAsync and S3 "
        "inputs, not through this API"
    ]
