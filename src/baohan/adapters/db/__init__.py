"""Persistence: SQLAlchemy models, migrations, repositories, unit of work."""
