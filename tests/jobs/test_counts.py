"""The counts base every job's tally shares (wecom_app/counts.py): what the scheduler logs
and what `wecom-app sync` prints."""
import dataclasses

from wecom_app.counts import Counts
from wecom_app.directory.full_sync import SyncCounts
from wecom_app.wecom.outcome import SendStats


@dataclasses.dataclass
class _Tally(Counts):
    done: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    rate_limited: bool = False


def test_counts_show_a_list_as_its_length_and_leave_bools_out_of_the_total():
    tally = _Tally(done=2, errors=["a", "b", "c"], rate_limited=True)
    assert tally.as_dict() == {"done": 2, "errors": 3, "rate_limited": True}
    assert tally.total == 5 and _Tally().total == 0
    assert tally.summary() == "done=2 errors=3 rate_limited=True"


def test_counts_keep_their_own_total_and_field_order():
    assert SyncCounts(departments=9, users=4, tags=2).summary().startswith("departments=9 users=4 left=0 tags=2 ")
    assert SendStats(claimed=5, sent=2, split=1).total == 2  # claimed and split are not outcomes
