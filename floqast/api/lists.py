"""List endpoints and allowRedirect (FloQast's): a list's answer is built from a Pull, so that allowRedirect=true
can answer 303 with a short-lived signed download link that streams the same answer, no key header needed.

The redirect is given whenever it is asked for, whatever the size of the answer. The link is a path of this
site (/api/v1/downloads/<token>); its token is signed with SECRET_KEY, works for DOWNLOAD_URL_SECONDS, and
names the key by its id (never the key itself), the list, the exact query and the format negotiated on the
first request. Readable, not secret: it holds nothing the first request's URL did not, save the key's id.
"""

from functools import wraps

from flask import current_app, jsonify, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from floqast.api import bp
from floqast.api.auth import accept, api_error, refuse, refuse_key_in_url, required_service
from floqast.api.params import BadParameter, parse_allow_redirect
from floqast.api.pulls import JSON, Pull, without_allow_redirect
from floqast.keys.authenticate import AuthenticatedKey, authenticate_id
from floqast.web.json_errors import ApiError

SALT = "floqast.api.download"
ASK_AGAIN = "Ask for the list again with allowRedirect=true for a new link."


def allows_redirect(check, formats=(JSON,)):
    """Make a list view out of `answer(pull) -> Response`, with allowRedirect: `check(pull)` refuses bad
    parameters (BadParameter, a 400) and what the key may not read (a 403) before a link is given; `formats` are the
    ones the list answers in (negotiated by Accept), its default first. The answer itself must not read the request."""

    def decorator(answer):
        @wraps(answer)
        def view():
            chosen = request.accept_mimetypes.best_match(formats) or formats[0]
            query = without_allow_redirect(request.query_string.decode())
            pull = Pull(request.context.key, url_for(request.endpoint), query, chosen)
            if not parse_allow_redirect(request.args):
                return answer(pull)
            check(pull)
            return redirect_to_download(request.endpoint, pull)

        view.answer = answer
        return view

    return decorator


def links() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def redirect_to_download(endpoint: str, pull: Pull):
    """303 to a download link for this pull: Location and {"data": {"url": ...}}."""
    url = url_for("api.download", token=links().dumps([pull.key.id, endpoint, pull.query, pull.format]))
    response = jsonify({"data": {"url": url}})
    response.status_code = 303
    response.headers["Location"] = url
    return response


def not_a_link(detail: str) -> ApiError:
    return ApiError(404, "Not Found", f"{detail} {ASK_AGAIN}")


def read_link(token: str) -> tuple[int, str, str, str]:
    """The key id, list endpoint, query and format a download link was given for, or a 404 saying why not."""
    seconds = current_app.config["DOWNLOAD_URL_SECONDS"]
    try:
        return links().loads(token, max_age=seconds)
    except SignatureExpired:
        raise not_a_link(f"This download link has expired: links work for {seconds} seconds.") from None
    except BadSignature:
        raise not_a_link("This is not a download link this API gave, or it was changed.") from None


@bp.get("/downloads/<token>")
def download(token: str):
    """The answer behind a download link, if its key still works, judged as a pull's is: the link is the credential,
    so a key header is not needed (and is not read if sent)."""
    refuse_key_in_url()
    if request.args:
        raise BadParameter(next(iter(request.args)), "a download link takes no parameters; use it as it was given.")
    key_id, endpoint, query, chosen = read_link(token)
    answer = getattr(current_app.view_functions.get(endpoint), "answer", None)
    service = required_service(endpoint)
    judged = None if answer is None else authenticate_id(key_id, request.remote_addr, service)
    if judged is None:
        raise not_a_link("This download link no longer leads anywhere.")
    pull = Pull(judged.key, url_for(endpoint), query, chosen)
    # What a request log shows for this download, refused or not: the list, its query and service, never the link.
    context = request.context
    context.logged_uri, context.logged_service = pull.url, service and service.label
    if not isinstance(judged, AuthenticatedKey):
        refuse(api_error(judged), judged.key)
    accept(judged.key)
    return answer(pull)
