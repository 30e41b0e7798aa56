"""The bench's pairs for any painting: the wider set shares no photo with the four timed pairs
(it is there so that those four cannot flatter a method), and every file is shipped."""
from stylekit.cli.bench_onepass import ONEPASS_PAIRS, WIDER_PAIRS


def test_the_wider_pairs_use_other_photos_and_exist():
    timed_photos = {c.resolve() for c, _ in ONEPASS_PAIRS}
    assert len(WIDER_PAIRS) == len(set(WIDER_PAIRS)) == 10
    assert not {c.resolve() for c, _ in WIDER_PAIRS} & timed_photos
    assert all(path.is_file() for pair in ONEPASS_PAIRS + WIDER_PAIRS for path in pair)
