"""The capture guard: what sits between sensors and every consumer (egress gate first)."""
