"""What the API reads of the ResultsTable: a result by its id, pages of results, and the owners
of a session's results."""

from typing import TYPE_CHECKING, Protocol

from stores.queries import ResultsQuery

if TYPE_CHECKING:  # stores/results.py holds the row type and imports this protocol
    from stores.results import ResultRow


class ResultReads(Protocol):
    async def get_result(self, result_id: str) -> "ResultRow | None":
        """The result of that id, in whichever session it is."""
        ...

    async def query(self, query: ResultsQuery) -> tuple[list["ResultRow"], int]:
        """A page of the results that match, and how many match in all."""
        ...

    async def owners(self, session_id: str, result_ids: list[str]) -> dict[str, str]:
        """The owner task of each result of `result_ids` the session has ('' for none)."""
        ...
