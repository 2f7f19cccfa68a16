"""One file per lesson; every module here registers itself on import."""
