"""Hand-written revisions, one per issue that adds tables: 0001, 0002, ..."""
