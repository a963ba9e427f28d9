"""Managed APIs in front of SageMaker endpoints: the OpenAPI document and its integration with the
SageMaker runtime, authentication, consumers' keys and usage plans, the stage's logs and limits,
WAF in prod, custom domains and alarms; checked against the OpenAPI 3 schema, and replayed into
moto's API Gateway on loopback; and the spec rules.

Given the samples: fraud-detector's default deployment has an IAM-authenticated API with two
consumers, checkout (300 rps) and chargeback-review (20 rps, 200,000 a day)."""

from __future__ import annotations

import json

import boto3
import pytest
from openapi_spec_validator import validate as validate_openapi

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
    rate, bad_inputs = acl["rules"]
    assert rate["statement"] == {"rateBasedStatement": {"limit": 2000, "aggregateKeyType": "IP"}}
    assert rate["action"] == {"block": {}}
    assert bad_inputs["statement"]["managedRuleGroupStatement"]["name"] == "AWSManagedRulesKnownBadInputsRuleSet"
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


# --- on loopback ----------------------------------------------------------------------------------


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
            "specs/m.yaml:12:17: deployments[0].api.auth: must be one of iam, cognito (got string 'basic')",
        ),
    ],
)
def test_api_rules(repo, api, expected):
    assert problems_of(repo, HEADER + DEPLOYMENT + api) == [expected]


def test_an_eks_deployment_cannot_have_a_managed_api(repo):
    text = HEADER + (
        "deployments:\n  - name: default\n    target: eks\n    cluster: serving\n"
        "    variants: [{name: current, model_version: 1}]\n    api: {}\n"
    )
    (problem,) = problems_of(repo, text)
    assert problem.startswith("specs/m.yaml:12:10: deployments[0].api: a managed API fronts SageMaker endpoints only")


def test_an_asynchronous_deployment_cannot_have_a_managed_api(repo):
    text = HEADER + DEPLOYMENT + "    async: {}\n    api: {}\n"
    assert problems_of(repo, text) == [
        "specs/m.yaml:13:10: deployments[0].api: asynchronous endpoints are invoked with InvokeEndpointAsync and S3 "
        "inputs, not through this API"
    ]
