"""Opaque keyset cursors, signed with the app's secret so that a forged one is refused."""

from itsdangerous import BadSignature, URLSafeSerializer

from floqast.api.params import BadParameter

# The module's name when it was in analytics/: a new salt would refuse every cursor already given out.
SALT = "floqast.analytics.cursor"


class Cursors:
    """Makes and reads cursors for one service; a cursor names the filters it continues."""

    def __init__(self, secret: str, service: str):
        self.serializer = URLSafeSerializer(secret, salt=SALT)
        self.service = service

    def encode(self, filters_key: list, after_id: int) -> str:
        """A cursor that continues after `after_id` for these filters only."""
        return self.serializer.dumps([self.service, filters_key, after_id])

    def decode(self, token: str, filters_key: list) -> int:
        """The id a cursor continues after; a 400 for a forged cursor or one from another query."""
        try:
            service, issued_filters, after_id = self.serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise BadParameter("page[cursor]", "not a cursor this API issued; "
                               "use the links.next URL of the previous page as it is.") from None
        if service != self.service or issued_filters != filters_key or not isinstance(after_id, int):
            raise BadParameter("page[cursor]", "issued for a different query; keep the filters "
                               "of the first page, or use the links.next URL as it is.")
        return after_id
