"""The API answers an ApiError its views raise with the JSON error body."""

from flask import request

from floqast.api import bp
from floqast.web.json_errors import ApiError, error_response


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError):
    if error.refusal is not None:
        request.context.refusal = error.refusal  # for the request log's row
    return error_response(error.status, error.title, error.detail, error.headers)
