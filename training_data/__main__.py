"""`python -m training_data [--out DIR] [--cache DIR]`: the command line from before the toolkit
moved into stylekit/, now `python -m stylekit photos`, which has the same flags."""
import sys

from stylekit.cli.main import main as stylekit_main


def main(argv=None) -> int:
    return stylekit_main(["photos", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
