"""The case store: the team's state between plans, in a database (SQLite or PostgreSQL).

Cases as imported with every later change, the plans published, visit outcomes from the field
with the promises and payments they carry, and an append-only audit log. `db` opens a store
(URL, engine, one transaction per session) and brings its schema to the newest migration
(`migrate`, the scripts in ``migrations/``); `tables` are the database rows; `audit` the log;
`outcomes` the outcome codes and their validation (plain data, no database); `cases` merges an
imported case list; `events` records outcomes and address corrections; `plans` records and
queries published plans; `history` turns the store into what the next plan learns; `export`
writes the compliance file; `apikeys` makes and checks the keys of the lender's HTTP API.
"""
