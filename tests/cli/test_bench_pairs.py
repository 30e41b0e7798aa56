"""The bench's pairs for any painting and its table of means: the wider set shares no photo with
the four timed pairs (it is there so that those four cannot flatter a method), and every file is
shipped; each run's row is the mean over its pairs."""
from stylekit.cli.bench_onepass import ONEPASS_PAIRS, WIDER_PAIRS


def test_the_wider_pairs_use_other_photos_and_exist():
    timed_photos = {c.resolve() for c, _ in ONEPASS_PAIRS}
    assert len(WIDER_PAIRS) == len(set(WIDER_PAIRS)) == 10
    assert not {c.resolve() for c, _ in WIDER_PAIRS} & timed_photos
    assert all(path.is_file() for pair in ONEPASS_PAIRS + WIDER_PAIRS for path in pair)


def test_the_means_table_averages_each_run_over_its_pairs(capsys):
    from stylekit.cli.bench_onepass import print_means
    print_means({"wct, fp32": [(1.0, 0.25), (2.0, 0.75)], "peer": [(0.5, 0.5)]})
    rows = capsys.readouterr().out.splitlines()
    assert rows[2:] == ["| wct, fp32 | 1.500 | 0.500 |", "| peer | 0.500 | 0.500 |"]
