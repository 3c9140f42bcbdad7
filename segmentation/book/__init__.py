"""The segment book: the bundle (a fitted model and everything derived from it), the names,
profiles and actions of its segments, and the rule tables (``rules/*.yaml``)."""
