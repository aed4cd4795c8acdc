"""FastAPI applications per role."""
