"""Schedule expressions: ``cron(...)`` (AWS or crontab fields), a bare crontab, or ``rate(...)``.

- ``rate(N minute|minutes|hour|hours|day|days)``: every N units, counted from the Unix epoch, so
  ``rate(1 hour)`` fires on the hour and ``rate(15 minutes)`` at :00, :15, :30, :45.
- ``cron(M H DoM Mon DoW Year)``: the six AWS fields SageMaker schedules use (``cron(0 * ? * * *)``
  is hourly); ``?`` means any, the year must be ``*`` and numeric days of week count 1-7 from
  Sunday, as in AWS.
- ``cron(M H DoM Mon DoW)`` or the five fields bare: standard crontab (days of week 0-6 from
  Sunday).

Each firing analyses the window since the previous firing: an hourly monitor run at 05:00 looks
at 04:00-05:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from mlgov.errors import ErrorCode, InvalidRequest

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_MIN_PERIOD = timedelta(minutes=1)


def _invalid(expression: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"schedule {expression!r} is not valid: {why}. Use cron(0 * ? * * *), a crontab such as "
        "'0 * * * *', or rate(1 hour)",
        code=ErrorCode.INVALID_SCHEDULE,
    )


@dataclass(frozen=True)
class Schedule:
    expression: str
    crontab: str | None = None
    period: timedelta | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment``."""
        moment = moment.astimezone(UTC)
        if self.period is not None:
            step = int(self.period.total_seconds())
            seconds = int(moment.timestamp()) // step * step + step
            return datetime.fromtimestamp(seconds, UTC)
        assert self.crontab is not None
        result: datetime = croniter(self.crontab, moment).get_next(datetime)
        return result.astimezone(UTC)

    def previous_before(self, moment: datetime) -> datetime:
        """The last firing strictly before ``moment``: where the window of a run at it starts."""
        moment = moment.astimezone(UTC)
        if self.period is not None:
            return moment - self.period
        assert self.crontab is not None
        result: datetime = croniter(self.crontab, moment).get_prev(datetime)
        return result.astimezone(UTC)


def parse(expression: str) -> Schedule:
    text = " ".join(expression.strip().split())
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise _invalid(expression, "the rate must be at least 1")
        period = timedelta(seconds=count * _UNIT[unit])
        if period > timedelta(days=366):
            raise _invalid(expression, "the rate must be at most a year")
        return Schedule(expression=text, period=period)
    cron = _CRON.match(text)
    fields = (cron.group(1) if cron else text).split()
    if cron and len(fields) == 6:
        fields = _from_aws(expression, fields)
    if len(fields) != 5:
        raise _invalid(expression, f"expected 5 crontab or 6 AWS fields, got {len(fields)}")
    crontab = " ".join(fields)
    if not croniter.is_valid(crontab):
        raise _invalid(expression, "a field is out of range or malformed")
    schedule = Schedule(expression=text, crontab=crontab)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    first = schedule.next_after(anchor)
    if schedule.next_after(first) - first < _MIN_PERIOD:
        raise _invalid(expression, "monitors run at most once a minute")
    return schedule


def _from_aws(expression: str, fields: list[str]) -> list[str]:
    minute, hour, day, month, weekday, year = fields
    if year not in ("*", "?"):
        raise _invalid(expression, "the year field must be *")
    if day != "?" and weekday != "?" and "*" not in (day, weekday):
        raise _invalid(expression, "give day-of-month or day-of-week, the other one ?")
    day = "*" if day == "?" else day
    if weekday == "?":
        weekday = "*"
    else:  # AWS counts 1-7 from Sunday, crontab 0-6; the number after # is a week, not a day
        weekday = re.sub(r"(?<!#)\d+", lambda m: str(int(m.group()) - 1), weekday)
    return [minute, hour, day, month, weekday]


def validate(expression: str | None) -> str | None:
    return None if expression is None else parse(expression).expression
