"""The API's JSON error shape, and the exception views raise to answer with it."""

from flask import jsonify


class ApiError(Exception):
    """An error answered as `{"errors": [...]}` with its status."""

    def __init__(self, status: int, title: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def error_response(status: int, title: str, detail: str, headers=None):
    """A JSON error body in the documented shape."""
    response = jsonify({"errors": [{"status": str(status), "title": title, "detail": detail}]})
    response.status_code = status
    for name, value in dict(headers or {}).items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
