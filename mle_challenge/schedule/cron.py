"""When runs happen: cron lines (UTC) as APScheduler triggers, their period, and durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mle_challenge.errors import ConfigError, MleError

CRON_EXAMPLE = '--cron "0 3 * * 1" (03:00 UTC every Monday)'


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def parse_cron(expr: str) -> CronTrigger:
    """A five-field crontab line, in UTC, as an APScheduler trigger.

    APScheduler 3 numbers weekdays from Monday = 0 where cron has Sunday = 0 (``from_crontab``'s
    own docstring warns of it): "0 3 * * 1" would fire on Tuesdays. Weekdays are therefore
    passed by name. Cron fires when *either* a restricted day of month or a restricted weekday
    matches, APScheduler only when both do: a line restricting both is refused, not guessed.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise _cron_error(expr, f"{len(fields)} fields; expected 5")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise _cron_error(expr, "restrict the day of month or the weekday, not both")
    try:
        line = " ".join([minute, hour, day, month, cron_weekdays(weekday)])
        return CronTrigger.from_crontab(line, timezone=UTC)
    except ValueError as exc:
        raise _cron_error(expr, str(exc)) from exc


def _cron_error(expr: str, problem: str) -> ConfigError:
    return ConfigError(
        f"--cron {expr!r} is not a cron line ({problem}): give minute hour day-of-month month "
        f"day-of-week in UTC, e.g. {CRON_EXAMPLE}."
    )


def cron_weekdays(field: str) -> str:
    """Cron's day-of-week field (0 or 7 = Sunday, names, ranges, steps) as weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        days |= _weekday_item(item)
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _weekday_item(item: str) -> set[int]:
    body, slash, step_text = item.partition("/")
    if slash and (not step_text.isdigit() or int(step_text) == 0):
        raise ValueError(f"bad step in day of week {item!r}")
    if body == "*":
        first, last = 0, 6
    elif "-" in body:
        first, last = (_weekday(part) for part in body.split("-", 1))
    elif slash:
        raise ValueError(f"a step needs a range or * in day of week {item!r}")
    else:
        first = last = _weekday(body)
    if first > last:
        raise ValueError(f"day-of-week range {item!r} runs backwards")
    return {d % 7 for d in range(first, last + 1, int(step_text or 1))}


def _weekday(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _CRON_DAYS:
        return _CRON_DAYS.index(text.lower())
    raise ValueError(f"day of week {text!r}: use 0-7 (0 and 7 are Sunday) or sun..sat")


def trigger_period(trigger: BaseTrigger, now: datetime, fires: int = 13) -> float | None:
    """The longest gap, in seconds, between the trigger's next ``fires`` fire times (a monthly
    line's gaps are 28 to 31 days: an alert on lateness must allow the longest); None when it
    fires fewer than twice."""
    times: list[datetime] = []
    previous, after = None, now
    while len(times) < fires:
        fire = trigger.get_next_fire_time(previous, after)
        if fire is None:
            break
        times.append(fire)
        previous, after = fire, fire + timedelta(seconds=1)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return max(gaps) if gaps else None


def every_seconds(seconds: float) -> IntervalTrigger:
    """A run every ``seconds``, the first one ``seconds`` from now (the hidden ``--every``, for
    tests: a cron line fires at most once a minute)."""
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def duration(text: str, option: str, *, off: bool = True) -> timedelta | None:
    """``30m``, ``1h``, ``7d``... or, when ``off`` is allowed, ``off`` (None)."""
    from mle_challenge.monitoring.monitor import parse_since

    if off and text.strip().lower() == "off":
        return None
    try:
        value = parse_since(text)
    except MleError as exc:
        raise ConfigError(
            f"{option} {text!r} is not a duration: use a number and a unit (s, m, h, d, w), "
            f"such as 30m or 6h{', or off' if off else ''}."
        ) from exc
    if value <= timedelta(0):
        raise ConfigError(f"{option} {text!r} must be longer than 0.")
    return value
