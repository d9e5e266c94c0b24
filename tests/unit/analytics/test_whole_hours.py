"""The range arithmetic of the hourly rollup: a range is its whole UTC hours (summed
from the rollup) and what is left at either end (read raw), with nothing lost or
counted twice, whatever offset the times carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from core.analytics.model import HOUR, hour_of, whole_hours

# Offsets of whole hours, half hours and quarter hours, and the extremes.
ZONES = [timezone(timedelta(minutes=m)) for m in (0, 330, 345, -210, 840, -720, 525)]
times = st.builds(
    lambda at, zone: at.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)),
    st.sampled_from(ZONES),
)


def on_utc_hour(at: datetime) -> bool:
    at = at.astimezone(UTC)
    return (at.minute, at.second, at.microsecond) == (0, 0, 0)


@given(times)
def test_the_hour_of_a_time_is_the_utc_hour_it_is_in(at: datetime) -> None:
    start = hour_of(at)
    assert on_utc_hour(start) and start <= at < start + HOUR


@given(times, st.timedeltas(timedelta(0), timedelta(days=40)))
def test_a_range_is_its_whole_hours_and_the_ends_left_over(
    start: datetime, length: timedelta
) -> None:
    end = start + length
    first, last = whole_hours(start, end)
    # Three adjacent pieces: [start, first), [first, last), [last, end).
    assert start <= first <= last <= end
    assert on_utc_hour(first) or first == end
    assert on_utc_hour(last) or last == first
    # No whole hour is left to the ends: each is shorter than an hour and inside one.
    assert first - start < HOUR and end - last < HOUR
    if last > first:
        assert (last - first) % HOUR == timedelta(0)
        assert hour_of(start) == start or first == hour_of(start) + HOUR
        assert last == hour_of(end)


def test_a_range_within_one_hour_has_no_whole_hour() -> None:
    at = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    first, last = whole_hours(at, at + timedelta(minutes=50))
    assert first == last == at + timedelta(minutes=50)


def test_a_range_on_hour_boundaries_is_whole_hours_only() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    start = datetime(2026, 3, 1, 5, 30, tzinfo=india)  # 00:00 UTC
    assert whole_hours(start, start + timedelta(days=1)) == (start, start + timedelta(days=1))
