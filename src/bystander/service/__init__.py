"""The Bystander HTTP service (FastAPI) and web dashboard."""
