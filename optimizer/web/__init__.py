"""Serving a written plan: one private link per collector (`serve`)."""
