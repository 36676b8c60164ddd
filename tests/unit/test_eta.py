"""Time left, as the progress bars and the Temporal UI's details say it."""

import pytest

from lifecycle.eta import format_eta


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.4, "about 0 s"),
        (7.2, "about 7 s"),
        (59.6, "about 1 min 00 s"),
        (200, "about 3 min 20 s"),
        (3599, "about 59 min 59 s"),
        (3900, "about 1 h 05 min"),
    ],
)
def test_time_left_is_said_in_the_largest_units_that_fit(seconds, said):
    assert format_eta(seconds) == said
