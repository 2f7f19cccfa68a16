"""dlcourse: the NYU Deep Learning course (LeCun & Canziani, 2020) as lessons that run and assert."""

__version__ = "0.1.0"
