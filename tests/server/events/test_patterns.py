"""EventBridge pattern semantics: the documented examples as conformance cases (§3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from mlgov.server.events.patterns import InvalidEventPattern, compile_pattern

EC2 = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "location": "us-east-1a",
        "filename": "image.png",
        "nothing": None,
        "empty": "",
        "tags": ["alpha", "beta"],
        "user": {"name": "Alice"},
        "items": [{"kind": "a", "size": 1}, {"kind": "b", "size": 2}],
    },
}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    # exact values; arrays are OR
    ("source exact", {"source": ["aws.ec2"]}, True),
    ("source other", {"source": ["aws.s3"]}, False),
    ("source OR", {"source": ["aws.s3", "aws.ec2"]}, True),
    ("nested exact", {"detail": {"state": ["terminated"]}}, True),
    ("all fields AND", {"source": ["aws.ec2"], "detail": {"state": ["running"]}}, False),
    ("missing field", {"detail": {"absent": ["x"]}}, False),
    ("case sensitive", {"detail": {"state": ["Terminated"]}}, False),
    # numbers by their JSON form
    ("number exact", {"detail": {"c-count": [5]}}, True),
    ("number is not string", {"detail": {"c-count": ["5"]}}, False),
    ("5 is not 5.0", {"detail": {"c-count": [5.0]}}, False),
    # null and empty string
    ("null matches null", {"detail": {"nothing": [None]}}, True),
    ("null does not match missing", {"detail": {"absent": [None]}}, False),
    ("empty string", {"detail": {"empty": [""]}}, True),
    ("empty is not null", {"detail": {"nothing": [""]}}, False),
    # arrays in the event: any element
    ("event array any", {"detail": {"tags": ["beta"]}}, True),
    ("event array none", {"detail": {"tags": ["gamma"]}}, False),
    ("resources", {"resources": [{"prefix": "arn:aws:ec2:"}]}, True),
    # prefix / suffix, with equals-ignore-case
    ("prefix", {"detail": {"location": [{"prefix": "us-"}]}}, True),
    ("prefix no", {"detail": {"location": [{"prefix": "eu-"}]}}, False),
    (
        "prefix ignore case",
        {"detail-type": [{"prefix": {"equals-ignore-case": "ec2 INSTANCE"}}]},
        True,
    ),
    ("suffix", {"detail": {"filename": [{"suffix": ".png"}]}}, True),
    ("suffix no", {"detail": {"filename": [{"suffix": ".jpg"}]}}, False),
    (
        "suffix ignore case",
        {"detail": {"filename": [{"suffix": {"equals-ignore-case": ".PNG"}}]}},
        True,
    ),
    ("prefix on number", {"detail": {"c-count": [{"prefix": "5"}]}}, False),
    # equals-ignore-case
    ("ignore case", {"detail": {"user": {"name": [{"equals-ignore-case": "alice"}]}}}, True),
    ("ignore case no", {"detail": {"user": {"name": [{"equals-ignore-case": "bob"}]}}}, False),
    # wildcard
    ("wildcard", {"detail": {"filename": [{"wildcard": "*.png"}]}}, True),
    ("wildcard middle", {"detail": {"instance-id": [{"wildcard": "i-*cdef0"}]}}, True),
    ("wildcard no", {"detail": {"filename": [{"wildcard": "img*.png"}]}}, False),
    ("wildcard escaped star", {"detail": {"filename": [{"wildcard": "image\\*png"}]}}, False),
    # anything-but
    ("anything-but value", {"detail": {"state": [{"anything-but": "initializing"}]}}, True),
    ("anything-but same", {"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    (
        "anything-but list",
        {"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}},
        False,
    ),
    ("anything-but numbers", {"detail": {"c-count": [{"anything-but": [1, 2, 3]}]}}, True),
    ("anything-but number hit", {"detail": {"c-count": [{"anything-but": [5]}]}}, False),
    ("anything-but needs field", {"detail": {"absent": [{"anything-but": "x"}]}}, False),
    ("anything-but prefix", {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, True),
    (
        "anything-but prefix hit",
        {"detail": {"state": [{"anything-but": {"prefix": "term"}}]}},
        False,
    ),
    (
        "anything-but suffix",
        {"detail": {"filename": [{"anything-but": {"suffix": ".png"}}]}},
        False,
    ),
    (
        "anything-but wildcard",
        {"detail": {"filename": [{"anything-but": {"wildcard": "*.txt"}}]}},
        True,
    ),
    (
        "anything-but ignore case",
        {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["TERMINATED"]}}]}},
        False,
    ),
    # numeric
    ("numeric range", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ("numeric out", {"detail": {"d-count": [{"numeric": ["<", 3]}]}}, False),
    ("numeric equals", {"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}, True),
    ("numeric on string", {"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    # cidr
    ("cidr", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ("cidr no", {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    # exists
    ("exists true", {"detail": {"state": [{"exists": True}]}}, True),
    ("exists false on missing", {"detail": {"absent": [{"exists": False}]}}, True),
    ("exists false on present", {"detail": {"state": [{"exists": False}]}}, False),
    ("exists true on object", {"detail": {"user": [{"exists": True}]}}, False),
    ("exists false on object", {"detail": {"user": [{"exists": False}]}}, True),
    ("exists true on null", {"detail": {"nothing": [{"exists": True}]}}, True),
    # $or
    (
        "$or",
        {"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [{"numeric": [">", 4]}]}}]},
        True,
    ),
    ("$or none", {"$or": [{"source": ["a"]}, {"source": ["b"]}]}, False),
    (
        "$or nested with AND",
        {
            "source": ["aws.ec2"],
            "detail": {"$or": [{"state": ["running"]}, {"state": ["terminated"], "c-count": [5]}]},
        },
        True,
    ),
    # arrays of objects: one element must match all of the sub-pattern
    ("object array one element", {"detail": {"items": {"kind": ["b"], "size": [2]}}}, True),
    ("object array no crossing", {"detail": {"items": {"kind": ["a"], "size": [2]}}}, False),
    # mixed literal and operators in one leaf
    ("mixed OR", {"detail": {"state": ["running", {"prefix": "term"}]}}, True),
]


@pytest.mark.parametrize(
    ("pattern", "expected"), [(p, e) for _, p, e in CASES], ids=[c[0] for c in CASES]
)
def test_documented_semantics(pattern: dict[str, Any], expected: bool) -> None:
    assert compile_pattern(pattern).matches(EC2) is expected


BAD = [
    ("not an object", ["source"]),
    ("empty", {}),
    ("leaf not array", {"source": "aws.ec2"}),
    ("empty leaf", {"source": []}),
    ("unknown operator", {"source": [{"startswith": "a"}]}),
    ("two keys", {"source": [{"prefix": "a", "suffix": "b"}]}),
    ("prefix number", {"source": [{"prefix": 5}]}),
    ("consecutive stars", {"source": [{"wildcard": "a**b"}]}),
    ("bad escape", {"source": [{"wildcard": "a\\b"}]}),
    ("numeric odd", {"x": [{"numeric": [">"]}]}),
    ("numeric op", {"x": [{"numeric": ["!=", 1]}]}),
    ("numeric two lower", {"x": [{"numeric": [">", 1, ">=", 2]}]}),
    ("numeric too big", {"x": [{"numeric": [">", 6e9]}]}),
    ("anything-but mixed", {"x": [{"anything-but": ["a", 1]}]}),
    ("anything-but prefix list", {"x": [{"anything-but": {"prefix": ["a", "b"]}}]}),
    ("anything-but numeric", {"x": [{"anything-but": {"numeric": [">", 1]}}]}),
    ("exists not bool", {"x": [{"exists": "yes"}]}),
    ("exists with others", {"x": ["a", {"exists": True}]}),
    ("$or one", {"$or": [{"a": ["b"]}]}),
    ("$or not list", {"$or": {"a": ["b"]}}),
    ("cidr bad", {"ip": [{"cidr": "10.0.0.0/99"}]}),
    ("nested array", {"x": [["a"]]}),
]


@pytest.mark.parametrize("pattern", [b for _, b in BAD], ids=[b[0] for b in BAD])
def test_invalid_patterns_are_refused_with_a_clear_code(pattern: Any) -> None:
    with pytest.raises(InvalidEventPattern) as refused:
        compile_pattern(pattern)
    assert refused.value.code == "INVALID_EVENT_PATTERN"
    assert "invalid event pattern" in refused.value.message


def test_json_text_and_its_errors() -> None:
    assert compile_pattern('{"source": ["aws.ec2"]}').matches(EC2)
    with pytest.raises(InvalidEventPattern, match="not valid JSON"):
        compile_pattern("{source")
    with pytest.raises(InvalidEventPattern, match="longer than"):
        compile_pattern({"source": ["x" * 5000]})


def test_error_names_the_path() -> None:
    with pytest.raises(InvalidEventPattern) as refused:
        compile_pattern({"detail": {"state": [{"prefix": 1}]}})
    assert refused.value.details["path"] == "detail.state"
