"""Platform screening of uploads: provenance, identifiable faces, policy decisions, moderation."""
