"""The tender protocol's services (spec 004): its registry, its stores and, built on them, its two roles."""
