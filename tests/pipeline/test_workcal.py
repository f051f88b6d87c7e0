"""R4: the working calendar on named dates (weekends, 国庆, 调休, years chinese_calendar
does not know yet, admin overrides) and the next working moment."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import make_settings
from wecom_app.models import CalendarOverride
from wecom_app.workcal import WorkCalendar, load_calendar

SH = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def cal():
    return WorkCalendar(make_settings())


def test_r4_saturday_is_not_a_workday(cal):
    assert not cal.is_workday(date(2026, 3, 7))
    assert not cal.is_working_time(local(2026, 3, 7, 10, 0))


def test_r4_ordinary_weekday_is_a_workday(cal):
    assert cal.is_workday(date(2026, 3, 9))


def test_r4_national_day_is_a_holiday(cal):
    assert not cal.is_workday(date(2026, 10, 1))
    assert not cal.is_working_time(local(2026, 10, 1, 10, 0))


def test_r4_tiaoxiu_sunday_is_a_workday(cal):
    # 2026-01-04 is a Sunday worked to make up for the New Year holiday
    assert date(2026, 1, 4).weekday() == 6
    assert cal.is_workday(date(2026, 1, 4))
    assert cal.is_working_time(local(2026, 1, 4, 9, 30))


def test_r4_year_beyond_the_package_falls_back_to_weekdays_and_fixed_holidays(cal):
    assert cal.is_workday(date(2027, 1, 4))  # a Monday
    assert not cal.is_workday(date(2027, 1, 1))  # 元旦
    assert not cal.is_workday(date(2027, 10, 1))  # 国庆
    assert not cal.is_workday(date(2027, 1, 2))  # a Saturday


def test_r4_friday_evening_waits_until_monday_morning(cal):
    friday = local(2026, 3, 13, 19, 0)
    assert not cal.is_working_time(friday)
    assert cal.next_working_time(friday) == local(2026, 3, 16, 9, 0).astimezone(timezone.utc)


def test_r4_lunch_break_waits_for_the_afternoon_window(cal):
    noon = local(2026, 3, 10, 12, 30)
    assert not cal.is_working_time(noon)
    assert cal.next_working_time(noon) == local(2026, 3, 10, 13, 30)


def test_r4_inside_a_window_the_moment_itself_is_returned_in_utc(cal):
    moment = local(2026, 3, 10, 10, 17, 5)
    result = cal.next_working_time(moment)
    assert result == moment and result.tzinfo == timezone.utc
    assert cal.is_working_time(local(2026, 3, 10, 17, 59)) and not cal.is_working_time(local(2026, 3, 10, 18, 0))


def test_r4_national_day_week_resumes_after_the_holiday(cal):
    # 2026: 10-01 to 10-07 off, Saturday 10-10 worked (调休)
    assert cal.next_working_time(local(2026, 9, 30, 18, 30)) == local(2026, 10, 8, 9, 0)


def test_r4_overrides_beat_the_package_both_ways():
    cal = WorkCalendar(make_settings(), {date(2026, 3, 10): False, date(2026, 3, 14): True})
    assert not cal.is_workday(date(2026, 3, 10))  # a Tuesday made a day off
    assert cal.is_workday(date(2026, 3, 14))  # a Saturday made a working day
    assert cal.next_working_time(local(2026, 3, 9, 18, 0)) == local(2026, 3, 11, 9, 0)


def test_r4_overrides_cover_lunar_holidays_in_uncovered_years():
    spring_festival_2027 = date(2027, 2, 8)  # a Monday the package cannot know about yet
    assert WorkCalendar(make_settings()).is_workday(spring_festival_2027)
    assert not WorkCalendar(make_settings(), {spring_festival_2027: False}).is_workday(spring_festival_2027)


def test_r4_custom_work_hours_and_time_zone():
    cal = WorkCalendar(make_settings(timezone="Europe/Berlin", work_hours=((time(8), time(16)),)))
    assert cal.is_working_time(datetime(2026, 3, 10, 7, 30, tzinfo=timezone.utc))  # 08:30 in Berlin
    assert not cal.is_working_time(datetime(2026, 3, 10, 15, 30, tzinfo=timezone.utc))  # 16:30


def test_naive_datetimes_are_refused(cal):
    with pytest.raises(ValueError):
        cal.is_working_time(datetime(2026, 3, 10, 10, 0))


def test_r4_overrides_are_loaded_from_the_database(sessions):
    with sessions.begin() as session:
        session.add(CalendarOverride(day=date(2026, 3, 14), workday=True, note="补班", set_by="admin"))
        session.add(CalendarOverride(day=date(2026, 3, 10), workday=False, note="公司活动", set_by="admin"))
    with sessions() as session:
        cal = load_calendar(session, make_settings())
    assert cal.is_workday(date(2026, 3, 14)) and not cal.is_workday(date(2026, 3, 10))


# ---- working-time arithmetic (directive reminders) -------------------------------------------------------------------

def test_r4_two_working_hours_cross_the_lunch_break(cal):
    assert cal.add_working(local(2026, 3, 10, 11, 0), timedelta(hours=2)) == local(2026, 3, 10, 14, 30)
    result = cal.add_working(local(2026, 3, 10, 10, 0), timedelta(hours=2))
    assert result == local(2026, 3, 10, 12, 0) and result.tzinfo == timezone.utc  # ends on the window's end
    assert cal.next_working_time(result) == local(2026, 3, 10, 13, 30)


def test_r4_two_working_hours_cross_the_end_of_the_day_and_the_weekend(cal):
    assert cal.add_working(local(2026, 3, 10, 17, 0), timedelta(hours=2)) == local(2026, 3, 11, 10, 0)
    assert cal.add_working(local(2026, 3, 13, 17, 30), timedelta(hours=2)) == local(2026, 3, 16, 10, 30)  # Fri → Mon
    assert cal.add_working(local(2026, 3, 14, 20, 0), timedelta(hours=2)) == local(2026, 3, 16, 11, 0)  # from Sat


def test_r4_adding_nothing_is_the_next_working_moment(cal):
    assert cal.add_working(local(2026, 3, 10, 12, 30), timedelta(0)) == local(2026, 3, 10, 13, 30)


def test_r4_subtracting_working_hours_goes_back_over_lunch_nights_and_holidays(cal):
    assert cal.subtract_working(local(2026, 3, 10, 14, 30), timedelta(hours=2)) == local(2026, 3, 10, 11, 0)
    assert cal.subtract_working(local(2026, 3, 12, 10, 0), timedelta(hours=2)) == local(2026, 3, 11, 17, 0)
    assert cal.subtract_working(local(2026, 3, 10, 11, 0), timedelta(hours=2)) == local(2026, 3, 10, 9, 0)
    # a deadline in the National Day holiday: back to the last working afternoon before it
    assert cal.subtract_working(local(2026, 10, 1, 10, 0), timedelta(hours=2)) == local(2026, 9, 30, 16, 0)
    # Monday 09:30 after a weekend: Friday 16:30
    assert cal.subtract_working(local(2026, 3, 16, 9, 30), timedelta(hours=2)) == local(2026, 3, 13, 16, 30)


def test_r4_next_working_day_at_ten_skips_weekends_holidays_and_counts_tiaoxiu(cal):
    ten = time(10, 0)
    assert cal.next_working_at(local(2026, 3, 10, 9, 0), ten) == local(2026, 3, 10, 10, 0)  # later today
    assert cal.next_working_at(local(2026, 3, 10, 10, 0), ten) == local(2026, 3, 11, 10, 0)  # strictly after
    assert cal.next_working_at(local(2026, 3, 13, 11, 0), ten) == local(2026, 3, 16, 10, 0)  # Fri → Mon
    assert cal.next_working_at(local(2026, 9, 30, 11, 0), ten) == local(2026, 10, 8, 10, 0)  # 国庆
    assert cal.next_working_at(local(2026, 1, 3, 11, 0), ten) == local(2026, 1, 4, 10, 0)  # a 调休 Sunday


def test_r4_arithmetic_in_2027_uses_the_fallback_calendar(cal):
    # chinese_calendar does not know 2027 yet: Monday to Friday minus the fixed-date holidays
    assert cal.next_working_at(local(2026, 12, 31, 11, 0), time(10)) == local(2027, 1, 4, 10, 0)  # 元旦, weekend
    assert cal.add_working(local(2026, 12, 31, 17, 0), timedelta(hours=2)) == local(2027, 1, 4, 10, 0)
    assert cal.subtract_working(local(2027, 1, 4, 10, 0), timedelta(hours=2)) == local(2026, 12, 31, 17, 0)


def test_r4_arithmetic_respects_overrides():
    cal = WorkCalendar(make_settings(), {date(2026, 3, 11): False})
    assert cal.add_working(local(2026, 3, 10, 17, 0), timedelta(hours=2)) == local(2026, 3, 12, 10, 0)
