"""The one JSON error shape: {"error": <code>, "message": <text>, "status": <http status>}."""

import msgspec


class ErrorBody(msgspec.Struct):
    error: str
    message: str
    status: int


class GatewayError(Exception):
    """An answer that is not a business outcome (400/401/429/503...)."""

    def __init__(self, status: int, error: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after

    def body(self) -> bytes:
        return msgspec.json.encode(ErrorBody(self.error, self.message, self.status))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
