"""Domain model: applications, guarantees, claims and their state machines. Pure Python."""
