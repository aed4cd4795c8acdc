"""Use cases per role (issuer, platform) over a unit of work; they emit outbox events."""
