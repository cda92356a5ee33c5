"""The ledger as CSV, for the admin's report export."""

import csv
from collections.abc import Iterable, Iterator

from usage.models import UsageRecord

# The columns of the export, and of the changelist it exports (usage.admin).
COLUMNS = (
    "user",
    "day",
    "model",
    "kind",
    "prompt_tokens",
    "completion_tokens",
    "estimated_tokens",
    "calls",
)
# A spreadsheet runs a cell that starts with one of these as a formula; usernames may.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """csv.writer's file: hands back each row it writes, for a streaming response."""

    def write(self, value: str) -> str:
        return value


def usage_csv(records: Iterable[UsageRecord]) -> Iterator[str]:
    """A header line, then one line per record (a deleted user's name is empty).

    UTF-8 with a byte-order mark: without it, Excel reads the file as Shift_JIS on Japanese
    Windows and garbles non-ASCII usernames and models.
    """
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(COLUMNS)
    for record in records:
        yield writer.writerow(
            [
                _text(record.user.get_username() if record.user else ""),
                record.day.isoformat(),
                _text(record.model),
                record.kind,
                record.prompt_tokens,
                record.completion_tokens,
                record.estimated_tokens,
                record.calls,
            ]
        )


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
