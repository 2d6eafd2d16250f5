"""The dispatcher console: the morning plan and the day in a browser.

Served by the same FastAPI application as the collectors' token pages (`optimizer.web.app`),
in one process (``collector-routes console``):

- `optimizer.console.desk`: the day as the console holds it (upload, validation, address
  fixes, planning jobs with their stages, drafts, publishing, adjustments); no HTTP;
- `optimizer.console.auth`: accounts, session cookies, CSRF tokens, the sign-in rate limit;
- `optimizer.console.pages`: the HTML (every input text escaped), scripts in bundled files;
- `optimizer.console.routes`: the HTTP routes, thin;
- `optimizer.console.run`: the server (`collector-routes console`).
"""
