"""The small languages inside spec values are parsed, with a message for every way to get them wrong."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelform.spec import parsers


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("4h", 14400), ("7d", 604800), ("0s", 0)])
def test_durations(text, seconds):
    assert parsers.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "value, message",
    [
        ("4 hours", "'4 hours' is not a duration; write <integer><unit> with unit s, m, h or d (e.g. '10m')"),
        ("1.5h", "'1.5h' is not a duration; write <integer><unit> with unit s, m, h or d (e.g. '10m')"),
        ("-1h", "'-1h' is not a duration; write <integer><unit> with unit s, m, h or d (e.g. '10m')"),
        ("3w", "'3w': unknown duration unit 'w'; use s, m, h or d"),
        (60, "a duration is a string such as '90s', '10m', '4h' or '7d'"),
    ],
)
def test_bad_durations(value, message):
    with pytest.raises(ValueError, match=None) as raised:
        parsers.parse_duration(value)
    assert str(raised.value) == message


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_format_round_trips(seconds):
    assert parsers.parse_duration(parsers.format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    "text, normalised, seconds",
    [
        ("rate(1 hour)", "rate(1 hour)", 3600),
        ("rate(5 minutes)", "rate(5 minutes)", 300),
        ("rate( 7   days )", "rate(7 days)", 604800),
        ("cron(0 6 * * ? *)", "cron(0 6 * * ? *)", None),
        ("cron(0/15 8-17 ? * MON-FRI *)", "cron(0/15 8-17 ? * MON-FRI *)", None),
        ("cron(0 3 ? * SUN *)", "cron(0 3 ? * SUN *)", None),
        ("cron(0 0 L * ? *)", "cron(0 0 L * ? *)", None),
        ("cron(0 0 15W * ? 2026-2030)", "cron(0 0 15W * ? 2026-2030)", None),
        ("cron(0 0 ? * 6#3 *)", "cron(0 0 ? * 6#3 *)", None),
        ("cron(0 0 1,15 JAN,JUL ? *)", "cron(0 0 1,15 JAN,JUL ? *)", None),
    ],
)
def test_schedules(text, normalised, seconds):
    schedule = parsers.parse_schedule(text)
    assert schedule.text == normalised and schedule.rate_seconds == seconds


@pytest.mark.parametrize(
    "text, message",
    [
        ("every hour", "'every hour' is not an EventBridge schedule; write 'rate(<n> <unit>)' or 'cron(<6 fields>)'"),
        ("rate(1 hours)", "'rate(1 hours)': EventBridge requires 'rate(1 hour)'"),
        ("rate(5 minute)", "'rate(5 minute)': EventBridge requires 'rate(5 minutes)'"),
        ("rate(0 hours)", "'rate(0 hours)': a rate must be at least 1"),
        ("rate(2 weeks)", "'rate(2 weeks)': rate unit 'weeks' is not one of minute(s), hour(s), day(s)"),
        ("rate(hour)", "'rate(hour)': a rate is 'rate(<positive integer> <unit>)', e.g. 'rate(1 hour)'"),
        (
            "cron(0 6 * * *)",
            "'cron(0 6 * * *)': an EventBridge cron has 6 fields (minutes hours day-of-month month "
            "day-of-week year), found 5",
        ),
        ("cron(60 6 * * ? *)", "'cron(60 6 * * ? *)': minutes value 60 is outside 0-59"),
        ("cron(0 6 32 * ? *)", "'cron(0 6 32 * ? *)': day-of-month value 32 is outside 1-31"),
        ("cron(0 6 * 13 ? *)", "'cron(0 6 * 13 ? *)': month value 13 is outside 1-12"),
        ("cron(0 6 * FOO ? *)", "'cron(0 6 * FOO ? *)': month field has 'FOO', expected a number 1-12"),
        ("cron(0 6 * * * *)", "'cron(0 6 * * * *)': exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 6 ? * ? *)", "'cron(0 6 ? * ? *)': exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(? 6 * * ? *)", "'cron(? 6 * * ? *)': '?' is only allowed in day-of-month or day-of-week, not minutes"),
        ("cron(0/0 6 * * ? *)", "'cron(0/0 6 * * ? *)': minutes step '/0' must be a positive integer"),
        ("cron(0 20-8 * * ? *)", "'cron(0 20-8 * * ? *)': hours range 20-8 runs backwards"),
        ("cron(0 0 1 1 ? 1969)", "'cron(0 0 1 1 ? 1969)': year value 1969 is outside 1970-2199"),
        (3600, "a schedule is a string: 'rate(1 hour)' or 'cron(0 6 * * ? *)'"),
    ],
)
def test_bad_schedules(text, message):
    with pytest.raises(ValueError) as raised:
        parsers.parse_schedule(text)
    assert str(raised.value) == message


def test_s3_uris():
    uri = parsers.parse_s3_uri("s3://acme-ml-data/fraud/train/")
    assert (uri.bucket, uri.key, str(uri)) == ("acme-ml-data", "fraud/train/", "s3://acme-ml-data/fraud/train/")
    assert parsers.parse_s3_uri("s3://acme.models").key == ""


@pytest.mark.parametrize(
    "text, problem",
    [
        ("https://acme/x", "is not an S3 URI"),
        ("s3://Acme/x", "may hold only lowercase letters"),
        ("s3://ab/x", "must be 3 to 63 characters long"),
        ("s3://acme..data/x", "must not contain '..'"),
        ("s3://192.168.1.10/x", "must not be formatted as an IP address"),
        ("s3://xn--acme/x", "uses a prefix or suffix that AWS reserves"),
        ("s3://acme-data//x", "empty path segment"),
    ],
)
def test_bad_s3_uris(text, problem):
    with pytest.raises(ValueError, match=problem):
        parsers.parse_s3_uri(text)


@pytest.mark.parametrize("text", ["ml-oncall@acme.example", "first.last+tag@sub.acme.co.uk"])
def test_emails(text):
    assert parsers.parse_email(text) == text


@pytest.mark.parametrize(
    "text", ["oncall", "oncall@acme", "@acme.example", "a b@acme.example", "a@b@acme.example", "Ops <ops@acme.example>"]
)
def test_bad_emails(text):
    with pytest.raises(ValueError, match="is not an e-mail address"):
        parsers.parse_email(text)


def test_timestamps_are_returned_in_utc():
    assert parsers.parse_timestamp("2026-11-27T01:00:00+01:00") == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert parsers.format_timestamp(parsers.parse_timestamp("2026-11-27T00:00:00Z")) == "2026-11-27T00:00:00Z"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("2026-11-27", "has no time zone"),
        ("27/11/2026", "is not an ISO 8601 timestamp"),
        ("2026-13-01T00:00:00Z", "is not an ISO 8601"),
    ],
)
def test_bad_timestamps(text, problem):
    with pytest.raises(ValueError, match=problem):
        parsers.parse_timestamp(text)


@pytest.mark.parametrize(
    "value, amount",
    [
        ("2", Decimal(2)),
        (2, Decimal(2)),
        ("500m", Decimal("0.5")),
        ("8Gi", Decimal(8 * 2**30)),
        (0.5, Decimal("0.5")),
        ("1G", Decimal(10**9)),
    ],
)
def test_quantities(value, amount):
    assert parsers.parse_quantity(value) == amount


@pytest.mark.parametrize("value", ["8GB", "lots", "-1", "0", True, None])
def test_bad_quantities(value):
    with pytest.raises(ValueError):
        parsers.parse_quantity(value)


def test_cidr():
    assert str(parsers.parse_private_cidr("10.40.0.0/16")) == "10.40.0.0/16"
    for text, problem in [
        ("10.40.0.1/16", "has host bits set"),
        ("8.8.0.0/16", "not a private"),
        ("10.0.0.0/8", "between /16 and /24"),
        ("nope", "not an IPv4 CIDR"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parsers.parse_private_cidr(text)


@pytest.mark.parametrize(
    "text, cron",
    [
        ("cron(0 2 * * ? *)", "0 2 * * *"),
        ("cron(30 1 ? * MON-FRI *)", "30 1 * * MON-FRI"),
        ("cron(0 3 ? * 2-6 *)", "0 3 * * 1-5"),  # EventBridge counts Sunday as 1, Kubernetes as 0
        ("cron(0 3 ? * 1/2 *)", "0 3 * * 0/2"),  # a step is a count of days: it does not shift
        ("cron(0/15 * * * ? *)", "0/15 * * * *"),
        ("rate(1 minute)", "* * * * *"),
        ("rate(15 minutes)", "*/15 * * * *"),
        ("rate(1 hour)", "0 * * * *"),
        ("rate(120 minutes)", "0 */2 * * *"),
        ("rate(6 hours)", "0 */6 * * *"),
        ("rate(1 day)", "0 0 * * *"),
    ],
)
def test_kubernetes_cron_of_eventbridge_schedules(text, cron):
    assert parsers.kubernetes_cron(parsers.parse_schedule(text)) == cron


@pytest.mark.parametrize(
    "text, message",
    [
        ("rate(7 minutes)", "'rate(7 minutes)' has no Kubernetes cron form"),
        ("rate(90 minutes)", "'rate(90 minutes)' has no Kubernetes cron form"),
        ("rate(5 hours)", "'rate(5 hours)' has no Kubernetes cron form"),
        ("rate(2 days)", "'rate(2 days)' has no Kubernetes cron form"),
        ("cron(0 0 L * ? *)", "Kubernetes cron has no L, W or #"),
        ("cron(0 0 ? * 2#1 *)", "Kubernetes cron has no L, W or #"),
        ("cron(0 0 1 1 ? 2027)", "a Kubernetes cron has no year field"),
    ],
)
def test_schedules_without_a_kubernetes_cron_form(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parsers.kubernetes_cron(parsers.parse_schedule(text))


# --- parsers answer repeated texts from memory ---------------------------------------------------------


def test_a_remembered_parser_answers_the_same_and_still_refuses_every_time(monkeypatch):
    calls: list[object] = []

    @parsers.remembered
    def parse_even(text: object) -> int:
        calls.append(text)
        if not isinstance(text, str) or int(text) % 2:
            raise ValueError(f"{text!r} is not an even number")
        return int(text)

    assert parse_even("4") == parse_even("4") == 4
    assert calls == ["4"]  # the second answer came from memory
    for _ in range(2):
        with pytest.raises(ValueError, match="'3' is not an even number"):
            parse_even("3")
    assert calls == ["4", "3", "3"]  # a refusal is never remembered
    with pytest.raises(ValueError):
        parse_even(["4"])  # not text: parsed each time, never used as a key
    monkeypatch.setattr(parsers, "MAX_REMEMBERED", 2)
    parse_even("6"), parse_even("8")  # memory full: forgotten, then filled again
    assert parse_even("4") == 4 and calls[-1] == "4"


def test_the_spec_parsers_are_remembered():
    for parser in (
        parsers.parse_duration,
        parsers.parse_schedule,
        parsers.parse_s3_uri,
        parsers.parse_email,
        parsers.parse_timestamp,
    ):
        assert parser.__wrapped__ is not parser
    assert parsers.parse_s3_uri("s3://acme-data/x/") is parsers.parse_s3_uri("s3://acme-data/x/")
