"""Print time-to-target tables: every lesson's full profile vs its budget, and spiral vs the notebook.

    python benchmarks/time_to_target.py              # all lessons
    python benchmarks/time_to_target.py spiral gan   # some
    python benchmarks/time_to_target.py --spiral     # only the spiral comparison
"""

import sys

from dlcourse import bench

if __name__ == "__main__":
    args = sys.argv[1:]
    print(bench.format_spiral(bench.spiral_time_to_target()))
    if args != ["--spiral"]:
        print()
        print(bench.format_lesson_table(bench.lesson_table(args or None)))
