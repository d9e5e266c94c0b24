"""The profile summary counts a sample once per function, whatever the recursion."""

from tests.bench.profile_top import NO_FRAME, shares

RAW = [
    "main (a.py:1);run (b.py:5);execute (c.py:9) 3",
    "main (a.py:1);run (b.py:6);run (b.py:7) 2",
    "main (a.py:2);log (d.py:3) 5",
    " 4",
]


def test_inclusive_and_self_shares_ignore_line_numbers_and_recursion() -> None:
    total, inclusive, own = shares(RAW)
    assert total == 14
    assert inclusive["main (a.py)"] == 10
    assert inclusive["run (b.py)"] == 5  # the recursive stack counts once
    assert own == {"execute (c.py)": 3, "run (b.py)": 2, "log (d.py)": 5, NO_FRAME: 4}


def test_match_keeps_only_the_stacks_through_a_frame() -> None:
    total, inclusive, _ = shares(RAW, match="log (")
    assert total == 5
    assert "run (b.py)" not in inclusive
