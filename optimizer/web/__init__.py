"""Serving a written plan: the web application (`run`, `app`), one private link per collector
(`site`), the outcome form and the lender API with a store (`collector`, `api`)."""
