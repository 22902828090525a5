"""The service's API routers, one module per area."""
