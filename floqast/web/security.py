"""Security headers on every response, a 400 for a Host header that names no host of ours, and a clear answer when a
page's CSRF token has gone stale."""

from flask import current_app, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadHost, BadRequest, MethodNotAllowed, NotFound, SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from floqast.web.errors import handle_http_error
from floqast.web.request import same_site_path

# No 'unsafe-inline', no 'unsafe-eval': scripts and styles come from our own files only. htmx needs
# neither: the templates use no hx-on or js: values, and base.html turns off its injected indicator CSS.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"
# Flask-Limiter sets Retry-After on every response it counted; it only means something on these.
RETRY_STATUSES = {429, 503}
EXPIRED_MESSAGE = "Your session has expired. Reload the page to continue."
MALFORMED_HOST = "The Host header is not a valid host name."


def add_security_headers(response):
    """Every response, pages, fragments, API answers and errors alike."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if response.status_code not in RETRY_STATUSES:
        response.headers.pop("Retry-After", None)
    return response


def reload_url() -> str:
    """Where "Reload the page" goes: the page the request came from when it can be read back with GET,
    else the home page. Only a path of this site, never a URL taken whole from a header."""
    path = request.full_path if request.query_string else request.path
    if request.is_htmx:
        # htmx sends the page's URL; keep its path and query, and only when it is on this site.
        current = request.headers.get("HX-Current-URL", "")
        root = request.host_url
        path = "/" + current[len(root):] if current.startswith(root) else "/"
    path = same_site_path(path)
    if path is None:
        return "/"
    try:
        current_app.url_map.bind(request.host).match(path.split("?", 1)[0], method="GET")
    except RequestRedirect:
        pass
    except (NotFound, MethodNotAllowed):
        return "/"
    return path


def csrf_expired(error: CSRFError):
    """A missing or stale CSRF token: say so and offer a reload, in the page's flash region for htmx."""
    url = reload_url()
    if request.is_htmx:
        body = render_template("_session_expired.html", message=EXPIRED_MESSAGE, reload_url=url)
        return body, 400, {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    page = render_template("errors/session_expired.html", message=EXPIRED_MESSAGE, reload_url=url)
    return page, 400


def refuse_unusable_host() -> None:
    """A Host header that is malformed or outside TRUSTED_HOSTS is a 400 before anything else looks at the request.

    Werkzeug finds no URL of ours for some malformed hosts ("a..b": an empty label), and reads the others (a space,
    a port past 65535) as no Host at all, which a request with a Host header never means.
    """
    error = request.routing_exception
    if isinstance(error, SecurityError):
        raise error
    if isinstance(error, BadHost) or (request.headers.get("Host") and not request.host):
        raise BadHost(MALFORMED_HOST)


def unusable_host(error: BadRequest):
    """The 400 for a Host header that is malformed or outside TRUSTED_HOSTS, in the form the client reads. Its page's
    links are paths, built as for a request without a Host, since this one has no URL adapter of its own."""
    request_ctx.url_adapter = current_app.url_map.bind("", script_name=request.root_path or "/",
                                                       url_scheme=request.scheme)
    return handle_http_error(error)


def init_app(app) -> None:
    proxies = app.config.get("TRUSTED_PROXY_COUNT", 0)
    if proxies:
        # Behind N proxies of ours: the client's IP (limits, audit) and https (HSTS, Secure) from their headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # Registered before the other extensions' hooks: its before_request runs first, its after_request last.
    app.before_request(refuse_unusable_host)
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, csrf_expired)
    for error in (BadHost, SecurityError):
        app.register_error_handler(error, unusable_host)
