"""Units shared by every module, so that two pages never disagree about the same quantity."""

from __future__ import annotations

from datetime import timedelta

# One month for "per month" figures (fleet cost, scenario cost, growth per month): the 730 hours AWS
# pricing uses (365 days x 24 h / 12). A budget month is still the calendar month (core/costs/projection.py).
HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0
MONTH = timedelta(hours=HOURS_PER_MONTH)
