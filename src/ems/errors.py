"""Errors that reach API clients: each one names the offending field."""

from __future__ import annotations


class ApiError(Exception):
    """A request that ems refuses; becomes HTTP `status` with `{"error", "field"}`."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        status: int = 400,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.reason = reason or _default_reason(field, status)
        """A short fixed label for the rejects metric (`off_tick`, `unknown_session_id`...)."""

    def body(self) -> dict[str, object]:
        """The JSON body sent to the client."""
        out: dict[str, object] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def _default_reason(field: str | None, status: int) -> str:
    """`invalid_<field>`, or `unknown_<field>` for a 404, in snake case."""
    name = "".join(f"_{c.lower()}" if c.isupper() else c for c in field or "request")
    name = name.replace(".", "_")
    return f"{'unknown' if status == 404 else 'invalid'}_{name}"


class VenueError(Exception):
    """A definite refusal from a venue (the request was not carried out)."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        http_status: int = 400,
        data: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.data = data
        """Extra detail the venue sent with the error (e.g. cancel-replace halves)."""


class EndpointUnreachable(ConnectionError):
    """A venue endpoint that could not be reached as a session started; `field` names the
    startOrderHandler setting that points at it (`wsUrl`, `wsApiUrl`)."""

    def __init__(self, field: str, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.field = field


class VenueUnknownOutcome(Exception):
    """A request whose outcome is unknown (5xx, timeout, dropped connection)."""


class VenueRateLimited(VenueError):
    """The venue asked us to slow down; `retry_after` is in seconds."""

    def __init__(self, message: str, code: int | None, http_status: int, retry_after: float):
        super().__init__(message, code, http_status)
        self.retry_after = retry_after
