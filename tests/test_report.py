"""`modelform report`: every fact an auditor asks for, per model, from the specs and the plan; one
self-contained page that a real browser opens without a console error, with its pictures."""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from modelform.report import build_report, render_html, render_markdown
from modelform.report.access import action_words, permissions, resource_words
from tests.conftest import REPO

AS_OF = datetime(2026, 11, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def report(sample_specs, sample_plans):
    return build_report(sample_specs, "prod", sample_plans["prod"], as_of=AS_OF, repo_root=str(REPO))


@pytest.fixture(scope="module")
def page(report):
    return render_html(report)


def text_of(page: str) -> str:
    """The page's visible text, one space between words (what a reader sees, tags aside)."""
    body = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def section(page: str, model: str) -> str:
    start = page.index(f'<section id="{model}">')
    return text_of(page[start : page.index("</section>", start)])


def test_every_model_field_an_auditor_asks_for_is_on_the_page(page, sample_specs):
    fraud = section(page, "fraud-detector")
    for fact in [
        # who, what, data
        "Owner risk-ml@acme.example",
        "Team risk",
        "Scores card transactions for fraud in real time.",
        "cost-center=4411",
        "Data classification confidential",
        "Training s3://acme-ml-data/fraud/train/",
        "Ground truth s3://acme-ml-data/fraud/labels/",
        "Data version 2026-11-01",
        # code version: the content hash of model_code, as the plan's code upload names it
        "pytorch 2.6",
        # where it is served, variants, weights, versions
        "default: SageMaker endpoint fraud-detector-default (us-east-1)",
        "sagemaker, ml.g5.xlarge",
        "current 90.0 registry version 12",
        "candidate 10.0 registry version 13",
        "eu-enterprise: EKS cluster serving-eu, namespace models (us-east-1)",
        # scaling, windows, rollout and rollback
        "2 to 40 instances; target 300 invocations per instance per minute; cooldowns: scale in 5m, scale out 1m",
        "black-friday: 2026-11-27T00:00:00Z to 2026-12-01T08:00:00Z, 20 to 120 instances",
        "year-end-sales: 2026-12-26T06:00:00Z to 2027-01-02T00:00:00Z, 8 to 40 pods",
        "canary, 10 % at a time, 10m apart",
        "fraud-detector-default-current-p99-latency",
        # monitors, retraining, approval, protection
        "Quality auc >= 0.85; precision >= 0.7",
        "Drift psi above 0.2 on every feature",
        "p99 latency above 250 ms; 5xx above 1.0 %",
        "Notified ml-oncall@acme.example",
        "Retrained on schedule, drift, quality (rate(7 days)), at most once per 1d",
        "approved manual",
        "protected: resources refuse deletion and data is retained; in service",
    ]:
        assert fact in fraud, fact
    code_version = re.search(r"fraud-detector/code/([0-9a-f]{12})/", json.dumps(page)) or re.search(
        r"version ([0-9a-f]{12})", fraud
    )
    assert code_version and f"version {code_version.group(1)}" in fraud


def test_a_shadow_is_listed_with_its_share_what_it_serves_and_where_it_is_scored(page, report):
    demand = section(page, "demand-forecaster")
    assert "candidate (shadow) copy of 25 % of requests registry version 8 1 instances" in demand
    assert (
        "Shadow candidate: copies made by SageMaker (shadow variant); its answers are captured, never returned, "
        "and scored apart (CloudWatch namespace modelform, model demand-forecaster, deployment default, variant "
        "candidate)."
    ) in demand
    assert "shadow candidate on a copy of 25 % of requests" in render_markdown(report)
    assert "(shadow)" not in section(page, "fraud-detector")


def test_a_managed_api_is_listed_with_its_auth_limits_consumers_and_waf(page, report):
    fraud = section(page, "fraud-detector")
    assert (
        "API API Gateway calls the SageMaker runtime itself, as a role that may invoke only this endpoint; IAM "
        "signatures (callers need execute-api:Invoke); 400 requests/s, bursts of 800; keys and usage plans: "
        "checkout: 300 requests/s, bursts of 600; chargeback-review: 20 requests/s, bursts of 40, 200,000 a day; "
        "WAF: rate limit 2,000 per client IP per 5 minutes, AWS known-bad-inputs rules, AWS anonymous-IP rules "
        "(hosting providers only counted)"
    ) in fraud
    assert "IAM signatures (callers need execute-api:Invoke), 400 requests/s" in render_markdown(report)
    assert (
        "API an HTTP API reaches the deployment's ALB (fraud-detector-eu-enterprise, open to the VPC only) through a "
        "VPC link of its own; JWTs issued by https://login.acme.example/oauth2/default for fraud-eu-enterprise; 200 "
        "requests/s, bursts of 400; WAF: none: an HTTP API takes no web ACL; the stage's throttle and the token "
        "check guard it"
    ) in fraud
    claims = section(page, "car-damage-estimator")
    assert (
        "API API Gateway reaches the deployment's ALB (car-damage-estimator-default, open to the VPC only) through a "
        "VPC link and an internal NLB (car-damage-estimator-default-api); Cognito user pool tokens "
        "(arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Claims01); 50 requests/s, bursts of 100"
    ) in claims


def test_batch_scoring_is_listed_with_its_schedule_input_version_output_and_failures(page, report):
    demand = section(page, "demand-forecaster")
    assert "Batch scoring Schedule cron(0 2 * * ? *) (UTC) Reads s3://acme-ml-data/demand/scoring/" in demand
    assert "Scores with registry version 7 on 2 x ml.c6i.2xlarge (SageMaker batch transform)" in demand
    assert (
        "Failures SQS queue demand-forecaster-batch-failures and its alarm, notifying supply-chain-ml@acme.example, "
        "ml-oncall@acme.example"
    ) in demand
    assert "Batch scoring" not in section(page, "fraud-detector")
    assert (
        "Scores with registry version 4 on a CronJob's pod on EKS cluster serving-eu (claims), 4 CPU, 16Gi, 1 GPU"
        in section(page, "car-damage-estimator")
    )
    assert "- Batch scoring: cron(0 2 * * ? *) (UTC), reads s3://acme-ml-data/demand/scoring/" in render_markdown(
        report
    )


def test_what_each_role_may_do_is_read_off_the_planned_policies(report, sample_plans):
    fraud = next(m for m in report["models"] if m["name"] == "fraud-detector")
    pod_role = next(r for r in fraud["roles"] if r.name == "fraud-detector-eu-enterprise-current-pod-role")
    assert [p.sentence() for p in pod_role.permissions] == [
        "may describe model package (sagemaker) on sagemaker model package fraud-detector/12",
        "may read object (s3) on s3://<acme-ml-artifacts.bucket>/fraud-detector/models/*",
        "may decrypt with (kms) on <acme-ml-key.arn>",
    ]
    assert pod_role.trusted_by == "<acme-ml-serving-eu-oidc.arn>"
    # A different policy in the plan is a different sentence: nothing is restated by hand.
    plan = copy.deepcopy(sample_plans["prod"])
    for stack in plan["stacks"]:
        for resource in stack["resources"]:
            if resource["name"] == "fraud-detector-eu-enterprise-current-pod-role-policy":
                policy = json.loads(resource["inputs"]["policy"])
                policy["Statement"][1]["Action"] = ["s3:GetObject", "s3:PutObject"]
                resource["inputs"]["policy"] = json.dumps(policy)
    from modelform.report.access import role_access

    (changed,) = [s for s in plan["stacks"] if s["stack"] == "fraud-detector.prod"]
    roles = {r.name: r for r in role_access(changed["resources"])}
    assert (
        roles["fraud-detector-eu-enterprise-current-pod-role"].permissions[1].actions
        == "read object, write object (s3)"
    )


def test_findings_and_stated_exceptions_are_listed_per_model(page):
    fraud = section(page, "fraud-detector")
    assert "stated-exception fraud-detector-eu-enterprise-capacity-cronjob advisory CKV_K8S_38" in fraud


def test_the_spec_history_comes_from_git(report):
    fraud = next(m for m in report["models"] if m["name"] == "fraud-detector")
    assert fraud["history"], "the fixture specs are committed"
    entry = fraud["history"][0]
    assert re.fullmatch(r"[0-9a-f]{7,}", entry["commit"]) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["date"])
    assert entry["author"] and entry["subject"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is a system package (apt-get install graphviz)")
def test_the_resource_graph_is_drawn_inline(report):
    fraud = next(m for m in report["models"] if m["name"] == "fraud-detector")
    assert fraud["graph_svg"].startswith("<svg")
    assert "fraud-detector-default-endpoint" in html.unescape(fraud["graph_svg"])


def test_without_dot_the_page_says_why_there_is_no_graph(sample_specs, sample_plans, monkeypatch):
    import graphviz

    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    report = build_report(sample_specs, "prod", sample_plans["prod"], as_of=AS_OF, repo_root=str(REPO))
    fraud = next(m for m in report["models"] if m["name"] == "fraud-detector")
    assert fraud["graph_svg"] is None
    assert "apt-get install graphviz" in section(render_html(report), "fraud-detector")


def test_pictures_are_inline_and_nothing_is_fetched(page, report):
    fraud = next(m for m in report["models"] if m["name"] == "fraud-detector")
    assert all(d["timeline_svg"].startswith("<svg") for d in fraud["deployments"])
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert page.count('class="chart"') == 6  # one capacity timeline per deployment (6 in the samples)
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)


def test_the_page_is_the_same_for_the_same_specs_and_day(report, sample_specs, sample_plans):
    again = build_report(sample_specs, "prod", sample_plans["prod"], as_of=AS_OF, repo_root=str(REPO))
    assert render_html(again) == render_html(report)


def test_the_markdown_version_fits_a_pull_request_comment(report):
    text = render_markdown(report)
    assert len(text) < 65_536
    assert text.count("\n## ") == 3
    assert "| [fraud-detector](#fraud-detector) | risk-ml@acme.example | risk | confidential |" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium): the browser check needs one")
def test_a_real_browser_opens_the_page_without_console_errors_and_shows_the_charts(page, tmp_path):
    from matplotlib.image import imread

    path = tmp_path / "report.html"
    path.write_text(page)
    shot = tmp_path / "shot.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command += ["--enable-logging=stderr", "--log-level=0", "--window-size=1400,2600"]
    result = subprocess.run(
        command + [f"--screenshot={shot}", path.as_uri()], capture_output=True, text=True, timeout=180
    )
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [] and shot.exists()
    pixels = imread(str(shot))[:, :, :3]
    # The charts' blue (#0072B2) and green (#009E73) lines are on the first screen.
    blue = (
        (abs(pixels[:, :, 0] - 0x00 / 255) < 0.08)
        & (abs(pixels[:, :, 1] - 0x72 / 255) < 0.08)
        & (abs(pixels[:, :, 2] - 0xB2 / 255) < 0.08)
    ).sum()
    green = (
        (abs(pixels[:, :, 0] - 0x00 / 255) < 0.08)
        & (abs(pixels[:, :, 1] - 0x9E / 255) < 0.08)
        & (abs(pixels[:, :, 2] - 0x73 / 255) < 0.08)
    ).sum()
    assert blue > 300 and green > 300
    dom = subprocess.run(command + ["--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.stdout.count("<section") == 3 and dom.stdout.count("<svg") >= 7


def test_access_in_words():
    assert action_words("s3:GetObject") == "read object (s3)"
    assert action_words("kms:GenerateDataKey*") == "make data keys (kms)"
    assert action_words("sagemaker:*") == "do anything (sagemaker)"
    assert action_words("ecr:BatchGetImage") == "batch get image (ecr)"
    assert resource_words("*") == "any resource"
    assert resource_words("arn:aws:s3:::b/p/*") == "s3://b/p/*"
    assert resource_words("arn:aws:logs:us-east-1:1:log-group:/aws/x:*") == "logs log group /aws/x:*"
    assert resource_words("arn:aws:ec2:us-east-1:1:*") == "any ec2 resource"
    denied = permissions(
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "s3:DeleteObject",
                    "Resource": ["arn:aws:s3:::b/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ]
        }
    )
    assert [p.sentence() for p in denied] == [
        "may not delete object (s3) on s3://b/*, when aws:SecureTransport Bool false"
    ]


def test_a_bad_as_of_is_one_line(capsys):
    from modelform.cli import main

    assert main(["report", "--as-of", "tomorrow"]) == 2
    assert capsys.readouterr().err == "modelform report: --as-of 'tomorrow' is not a date (YYYY-MM-DD)\n"
