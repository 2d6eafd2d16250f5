"""Errors a dispatcher can act on.

Every input problem names the file, the row, the record id, the field, the bad value and the fix.
Readers collect all problems of a file and raise one `InputError` holding them all.

Every error a user can cause is a `CollectorRoutesError`; the command line prints its message on
one line (no traceback) and exits with its ``exit_code``:

- 2, what was given is wrong and nothing was planned or written: input files (`InputError`),
  options, settings, scenario files, the OSM extract, the geocoder or the road network
  (`ConfigError` and its subclasses, `MissingFileError` for a file that is not there), the
  output folder (``outputs.write.OutputError``), a plan folder to serve, or a malformed routing
  problem handed to the library (`ProblemError`);
- 3, the input is valid but no plan serves every required visit (`InfeasibleError`);
- 1, the root class: a failure that is not the input's (a solver worker process died, a plan
  failed its re-simulation).

Each class also inherits the built-in error it refines (an `InputError` is a `ValueError`, a
`MissingFileError` a `FileNotFoundError`), so callers that catch those keep working. The README's
exit code table lists them; tests/test_errors.py keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found in an input file (or a what-if scenario file).

    ``row`` is the spreadsheet row number (the header is row 1, the first record row 2);
    0 when the problem concerns the whole file (e.g. a missing column).
    """

    file: str
    row: int
    record_id: str
    field: str
    value: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file
        if self.row:
            where += f" row {self.row}"
        if self.record_id:
            where += f" ({self.record_id})"
        value = f" value {self.value!r}" if self.value != "" else ""
        fieldpart = f" field '{self.field}'" if self.field else ""
        what = f"{fieldpart}{value}:" if fieldpart or value else ""
        return f"{where}:{what} {self.message}; fix: {self.fix}"


class CollectorRoutesError(Exception):
    """Root of the errors this package raises on purpose."""

    exit_code = 1


class InputError(CollectorRoutesError, ValueError):
    """Input files have problems; `problems` lists every one of them."""

    exit_code = 2

    def __init__(self, problems: list[Issue] | tuple[Issue, ...]) -> None:
        self.problems = tuple(problems)
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''}"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class ConfigError(CollectorRoutesError, ValueError):
    """A setting or option is invalid; the message says which and how to fix it."""

    exit_code = 2


class MissingFileError(ConfigError, FileNotFoundError):
    """A file named by an option, a setting or a scenario (an OSM extract, a scenario file) does
    not exist; the message names it and the fix."""


class ProblemError(CollectorRoutesError, ValueError):
    """A routing problem handed to the solver is malformed (no vehicle, a location outside the
    travel matrices, a visit id used twice); the message names each problem."""

    exit_code = 2


class InfeasibleError(CollectorRoutesError, RuntimeError):
    """No plan serves every required visit; the message names them and what to change."""

    exit_code = 3


class SearchTimeout(InfeasibleError):
    """The time limit ended the search before it found a first plan (a large day, a short
    limit): what was given is too little time, so exit code 2; the message says how much more
    time to give."""

    exit_code = 2
