"""Parsers for the small languages inside spec values.

Each parser takes the user's text and returns a typed value or raises `ValueError` with a
sentence saying what is wrong and what is accepted. They parse rather than pattern-guess: a
regular expression that "looks like" a cron expression still lets `cron(99 * * * ? *)` through.
Pure functions, no AWS calls, shared by the validator and the components.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import wraps
from typing import Callable, TypeVar

T = TypeVar("T")
#: Texts a parser remembers at most (a long-lived process reading ever new specs stays bounded).
MAX_REMEMBERED = 100_000


def remembered(parser: Callable[[object], T]) -> Callable[[object], T]:
    """`parser`, answering again from memory for text it parsed before: a fleet's specs repeat the
    same addresses, locations and schedules, and every spec is read once per environment. Only
    results are kept (a refusal is parsed again, so its message is always fresh); the results are
    immutable values."""
    answers: dict[str, T] = {}

    @wraps(parser)
    def parse(text: object) -> T:
        if type(text) is not str:
            return parser(text)
        try:
            return answers[text]
        except KeyError:
            if len(answers) >= MAX_REMEMBERED:
                answers.clear()
            answer = answers[text] = parser(text)
            return answer

    return parse


# --- durations: 90s, 10m, 4h, 7d ------------------------------------------------------------

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(?P<count>[0-9]+)(?P<unit>[a-z]+)")


@remembered
def parse_duration(text: object) -> int:
    """`"4h"` -> 14400 seconds. One integer and one unit of s, m, h or d."""
    if not isinstance(text, str):
        raise ValueError("a duration is a string such as '90s', '10m', '4h' or '7d'")
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration; write <integer><unit> with unit s, m, h or d (e.g. '10m')")
    unit = match["unit"]
    if unit not in _DURATION_UNITS:
        raise ValueError(f"'{text}': unknown duration unit '{unit}'; use s, m, h or d")
    return int(match["count"]) * _DURATION_UNITS[unit]


def format_duration(seconds: int) -> str:
    """The largest exact unit: 14400 -> '4h', 90 -> '90s'."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _DURATION_UNITS[unit] == 0:
            return f"{seconds // _DURATION_UNITS[unit]}{unit}"
    return f"{seconds}s"


# --- EventBridge schedule expressions: rate(...) and cron(...) ---------------------------------


@dataclass(frozen=True)
class Schedule:
    """A parsed EventBridge schedule. `text` is normalised (single spaces) and is what AWS gets."""

    text: str
    kind: str  # "rate" | "cron"
    rate_seconds: int | None = None


_RATE = re.compile(r"rate\((?P<body>[^()]*)\)")
_CRON = re.compile(r"cron\((?P<body>[^()]*)\)")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@remembered
def parse_schedule(text: object) -> Schedule:
    """An EventBridge `rate(value unit)` or six-field `cron(min hour dom month dow year)`."""
    if not isinstance(text, str):
        raise ValueError("a schedule is a string: 'rate(1 hour)' or 'cron(0 6 * * ? *)'")
    stripped = text.strip()
    if match := _RATE.fullmatch(stripped):
        return _parse_rate(text, match["body"].split())
    if match := _CRON.fullmatch(stripped):
        return _parse_cron(text, match["body"].split())
    raise ValueError(f"'{text}' is not an EventBridge schedule; write 'rate(<n> <unit>)' or 'cron(<6 fields>)'")


def _parse_rate(text: str, words: list[str]) -> Schedule:
    if len(words) != 2 or not words[0].isdigit():
        raise ValueError(f"'{text}': a rate is 'rate(<positive integer> <unit>)', e.g. 'rate(1 hour)'")
    value, unit = int(words[0]), words[1]
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in _RATE_UNITS:
        raise ValueError(f"'{text}': rate unit '{unit}' is not one of minute(s), hour(s), day(s)")
    if value < 1:
        raise ValueError(f"'{text}': a rate must be at least 1")
    # EventBridge rejects 'rate(1 hours)' and 'rate(5 hour)': the unit agrees with the number.
    expected = singular if value == 1 else singular + "s"
    if unit != expected:
        raise ValueError(f"'{text}': EventBridge requires 'rate({value} {expected})'")
    return Schedule(f"rate({value} {unit})", "rate", value * _RATE_UNITS[singular])


# field name, lowest, highest, names usable instead of numbers, extra single tokens
_CRON_FIELDS = [
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _WEEKDAYS),
    ("year", 1970, 2199, None),
]


def _parse_cron(text: str, fields: list[str]) -> Schedule:
    if len(fields) != 6:
        raise ValueError(
            f"'{text}': an EventBridge cron has 6 fields (minutes hours day-of-month month "
            f"day-of-week year), found {len(fields)}"
        )
    for value, (name, low, high, names) in zip(fields, _CRON_FIELDS):
        _check_cron_field(text, name, value, low, high, names)
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"'{text}': exactly one of day-of-month and day-of-week must be '?'")
    return Schedule(f"cron({' '.join(fields)})", "cron")


def _check_cron_field(text: str, name: str, value: str, low: int, high: int, names: list[str] | None) -> None:
    def number(token: str) -> int:
        if names and token.upper() in names:
            return names.index(token.upper()) + 1
        if not token.isdigit():
            raise ValueError(f"'{text}': {name} field has '{token}', expected a number {low}-{high}")
        number_value = int(token)
        if not low <= number_value <= high:
            raise ValueError(f"'{text}': {name} value {number_value} is outside {low}-{high}")
        return number_value

    if value == "?":
        if name not in ("day-of-month", "day-of-week"):
            raise ValueError(f"'{text}': '?' is only allowed in day-of-month or day-of-week, not {name}")
        return
    for part in value.split(","):
        if part == "*":
            continue
        if name == "day-of-month" and (part in ("L", "LW") or re.fullmatch(r"[0-9]{1,2}W", part)):
            if part.endswith("W") and part not in ("LW",):
                number(part[:-1])
            continue
        if name == "day-of-week" and (part == "L" or re.fullmatch(r"[0-9A-Za-z]{1,3}(L|#[1-5])", part)):
            number(part.split("#")[0].rstrip("L"))
            continue
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"'{text}': {name} step '/{step}' must be a positive integer")
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first = number(start)
        if dash and number(end) < first and name not in ("day-of-week",):
            raise ValueError(f"'{text}': {name} range {base} runs backwards")


def kubernetes_cron(schedule: Schedule) -> str:
    """The same schedule as a Kubernetes CronJob's five-field cron (UTC), or ValueError saying why
    there is none: EventBridge's `L`, `W` and `#` and a specific year have no Kubernetes form, and
    a rate must divide an hour (minutes) or a day (hours), or be one day."""
    if schedule.kind == "rate":
        seconds = schedule.rate_seconds or 0
        if seconds % 86400 == 0:
            if seconds == 86400:
                return "0 0 * * *"
        elif seconds % 3600 == 0 and 24 % (seconds // 3600) == 0:
            return f"0 */{seconds // 3600} * * *" if seconds > 3600 else "0 * * * *"
        elif seconds < 3600 and 60 % (seconds // 60) == 0:
            return f"*/{seconds // 60} * * * *" if seconds > 60 else "* * * * *"
        raise ValueError(
            f"'{schedule.text}' has no Kubernetes cron form (a rate must divide an hour or a day, or be one day): "
            "write it as cron(...)"
        )
    minutes, hours, day_of_month, month, day_of_week, year = schedule.text[len("cron(") : -1].split()
    if year not in ("*", "?"):
        raise ValueError(f"'{schedule.text}': a Kubernetes cron has no year field: use * for the year")
    for field in (day_of_month, day_of_week):
        if any(mark in field for mark in ("L", "W", "#")):
            raise ValueError(f"'{schedule.text}': Kubernetes cron has no L, W or # (last, weekday, nth)")

    def weekday(token: str) -> str:  # EventBridge counts SUN..SAT as 1..7, Kubernetes as 0..6
        return str(int(token) - 1) if token.isdigit() else token

    if day_of_week not in ("?", "*"):
        # Day numbers shift; a step after "/" is a count of days and does not.
        day_of_week = re.sub(r"(?<![/0-9])[0-9]+", lambda m: weekday(m.group()), day_of_week)
    fields = [minutes, hours, day_of_month, month, day_of_week]
    return " ".join("*" if field == "?" else field for field in fields)


# --- S3 URIs -------------------------------------------------------------------------------------

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # may be a prefix ending in '/', or empty for the whole bucket

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@remembered
def parse_s3_uri(text: object) -> S3Uri:
    """`s3://bucket/prefix/` with a bucket name that AWS would accept."""
    if not isinstance(text, str):
        raise ValueError("an S3 location is a string such as 's3://bucket/prefix/'")
    if not text.startswith("s3://"):
        raise ValueError(f"'{text}' is not an S3 URI; write s3://<bucket>/<key or prefix>")
    bucket, _, key = text[len("s3://") :].partition("/")
    problem = _bucket_problem(bucket)
    if problem:
        raise ValueError(f"'{text}': bucket '{bucket}' {problem}")
    if any(ord(c) < 32 for c in key) or "//" in key or key.startswith("/"):
        raise ValueError(f"'{text}': the key has an empty path segment or control characters")
    return S3Uri(bucket, key)


def _bucket_problem(bucket: str) -> str | None:
    if not 3 <= len(bucket) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET.fullmatch(bucket):
        return (
            "may hold only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "must not contain '..', '.-' or '-.'"
    try:
        ipaddress.IPv4Address(bucket)
        return "must not be formatted as an IP address"
    except ValueError:
        pass
    if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
        return "uses a prefix or suffix that AWS reserves"
    return None


# --- e-mail addresses --------------------------------------------------------------------------


@remembered
def parse_email(text: object) -> str:
    """An RFC 5322 addr-spec whose domain has at least one dot, e.g. `ml-oncall@acme.example`."""
    if not isinstance(text, str):
        raise ValueError("an e-mail address is a string such as 'team@example.com'")
    try:
        address = Address(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError):
        raise ValueError(f"'{text}' is not an e-mail address") from None
    if address.addr_spec != text or not address.username or "." not in address.domain.strip("."):
        raise ValueError(f"'{text}' is not an e-mail address (expected local-part@domain.tld)")
    return text


# --- timestamps --------------------------------------------------------------------------------


@remembered
def parse_timestamp(text: object) -> datetime:
    """An ISO 8601 timestamp with a time zone, e.g. `2026-11-27T00:00:00Z`; returned in UTC."""
    if not isinstance(text, str):
        raise ValueError("a timestamp is a string such as '2026-11-27T00:00:00Z'")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 timestamp (e.g. '2026-11-27T00:00:00Z')") from None
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' has no time zone; add 'Z' for UTC or an offset such as '+01:00'")
    return moment.astimezone(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Kubernetes resource quantities (cpu: "500m", memory: "8Gi") ----------------------------------

_QUANTITY = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>[a-zA-Z]*)")
_QUANTITY_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity: `2`, `0.5`, `500m`, `8Gi`. Returned in base units (cores, bytes)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("a Kubernetes quantity is a number or a string such as '500m' or '8Gi'")
    text = str(value)
    match = _QUANTITY.fullmatch(text)
    if not match or match["suffix"] not in _QUANTITY_SUFFIXES:
        raise ValueError(f"'{text}' is not a Kubernetes quantity (e.g. '2', '500m', '8Gi')")
    try:
        amount = Decimal(match["number"]) * _QUANTITY_SUFFIXES[match["suffix"]]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
        raise ValueError(f"'{text}' is not a Kubernetes quantity") from None
    if amount <= 0:
        raise ValueError(f"'{text}' must be greater than zero")
    return amount


# --- networks ----------------------------------------------------------------------------------


def _ipv4_block(text: object, example: str) -> ipaddress.IPv4Network:
    if not isinstance(text, str):
        raise ValueError(f"a CIDR block is a string such as '{example}'")
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not an IPv4 CIDR block: {exc}") from None


def parse_private_cidr(text: object) -> ipaddress.IPv4Network:
    """An RFC 1918 IPv4 block between /16 and /24: what a VPC accepts and what stays private."""
    network = _ipv4_block(text, "10.40.0.0/16")
    if not 16 <= network.prefixlen <= 24:
        raise ValueError(f"'{text}': a VPC block must be between /16 and /24")
    if not network.is_private or network.subnet_of(ipaddress.IPv4Network("100.64.0.0/10")):
        raise ValueError(f"'{text}' is not a private (RFC 1918) range")
    return network


def parse_allowlist_cidr(text: object) -> ipaddress.IPv4Network:
    """A public IPv4 block that may reach a cluster's API: never everything (/0), never private
    (private callers use the private endpoint from inside the VPC)."""
    network = _ipv4_block(text, "52.94.76.0/22")
    if network.prefixlen < 8:
        raise ValueError(f"'{text}' opens the API to too much of the internet; allow /8 or narrower")
    if not network.is_global:
        raise ValueError(f"'{text}' is not a public range; callers inside the VPC use the private endpoint")
    return network


#: Besides letters, digits and spaces (any script), AWS tag keys and values allow only these.
TAG_PUNCTUATION = set("_.:/=+-@")


def parse_tag_text(text: object) -> str:
    """A tag key or value AWS accepts: letters, numbers and separators of any script, and
    `_ . : / = + - @` (the pattern of botocore's TagKey / TagValue shapes)."""
    import unicodedata

    if not isinstance(text, str):
        raise ValueError("a tag is text")
    bad = sorted({c for c in text if c not in TAG_PUNCTUATION and unicodedata.category(c)[0] not in "LNZ"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(
            f"'{text}' has characters AWS tags do not allow ({shown}); use letters, digits, spaces and _ . : / = + - @"
        )
    return text
