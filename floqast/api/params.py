"""The query string of an analytics pull, checked: filters and page, or a 400 naming the parameter; and
allowRedirect, which every list endpoint takes."""

import calendar
import re
from dataclasses import dataclass
from datetime import date

from floqast.analytics.filters import Filters

MAX_PAGE_SIZE = 30000
# FloQast's default is its maximum: a script that reads one page's "data" and stops gets the whole month.
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE
MAX_ENTITY_IDS = 100
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
FILTER_PARAMETERS = (
    "filter[month]", "filter[year]", "filter[modifiedSince]", "filter[modifiedBefore]", "filter[entityIds]"
)
PAGE_PARAMETERS = ("page[size]", "page[cursor]")
PARAMETERS = FILTER_PARAMETERS + PAGE_PARAMETERS
# Every list endpoint's (FloQast's): read by floqast.api.lists before the list's own parameters are.
ALLOW_REDIRECT = "allowRedirect"
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() refuses or reads as another number,
# and int() refuses strings of more than 4300 digits, so the length is bounded before converting.
NUMBER = re.compile(r"[0-9]{1,10}", re.ASCII)


def is_number(value: str) -> bool:
    return NUMBER.fullmatch(value) is not None


def _any_case(word: str) -> str:
    return "".join(f"[{char.upper()}{char.lower()}]" for char in word)


# What filter[month], filter[year] and filter[entityIds] accept, as the patterns the OpenAPI document
# publishes (JSON Schema regexes: no flags, so month names spell out their cases). Values are read with
# surrounding whitespace stripped, hence the \s*.
MONTH_PATTERN = r"^\s*(0{0,8}[1-9]|0{0,8}1[0-2]|" + "|".join(_any_case(name) for name in MONTHS) + r")\s*$"
YEAR_PATTERN = r"^\s*[0-9]{4}\s*$"
ENTITY_ID = r"[1-9][0-9]{0,8}"
ENTITY_IDS_PATTERN = rf"^\s*{ENTITY_ID}\s*(,\s*{ENTITY_ID}\s*){{0,{MAX_ENTITY_IDS - 1}}}$"
ALLOW_REDIRECT_PATTERN = rf"^\s*({_any_case('true')}|{_any_case('false')})\s*$"


class BadParameter(ValueError):
    """A query parameter that is unknown or not valid; the API answers 400 naming it."""

    def __init__(self, name: str, detail: str):
        super().__init__(f"{name}: {detail}")
        self.name = name


@dataclass(frozen=True)
class Page:
    size: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None


def single(args, name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise BadParameter(name, "give it at most once.")
    return values[0].strip() if values else None


def parse_month(value: str) -> int:
    if re.match(MONTH_PATTERN, value):
        return int(value) if is_number(value) else MONTHS[value.lower()]
    raise BadParameter("filter[month]", f"{value!r} is not a month; use January to December or 1 to 12.")


def parse_year(value: str) -> int:
    if not re.match(YEAR_PATTERN, value):
        raise BadParameter("filter[year]", f"{value!r} is not a year; use four digits such as 2025.")
    return int(value)


def parse_date(name: str, value: str) -> date:
    try:
        if ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise BadParameter(name, f"{value!r} is not a date; use YYYY-MM-DD, such as 2025-01-31.")


def parse_entity_ids(value: str) -> tuple[int, ...]:
    if not re.match(ENTITY_IDS_PATTERN, value):
        raise BadParameter(
            "filter[entityIds]", f"{value!r} is not a list of entity ids; use up to {MAX_ENTITY_IDS} "
            "comma-separated numbers, such as 12,15.",
        )
    return tuple(sorted(set(int(part) for part in value.split(","))))


def parse_filters(args, readable_entity_ids: tuple[int, ...] | None = None) -> Filters:
    """The filters of the query string, checked, for a key that reads `readable_entity_ids` (None: every entity)."""
    month, year = single(args, "filter[month]"), single(args, "filter[year]")
    if (month is None) != (year is None):
        missing, given = ("filter[year]", "filter[month]") if year is None else ("filter[month]", "filter[year]")
        raise BadParameter(missing, f"required with {given}; give both, such as filter[month]=March&filter[year]=2025.")
    since, before = single(args, "filter[modifiedSince]"), single(args, "filter[modifiedBefore]")
    entity_ids = single(args, "filter[entityIds]")
    filters = Filters(
        year=None if year is None else parse_year(year),
        month=None if month is None else parse_month(month),
        modified_since=None if since is None else parse_date("filter[modifiedSince]", since),
        modified_before=None if before is None else parse_date("filter[modifiedBefore]", before),
        entity_ids=() if entity_ids is None else parse_entity_ids(entity_ids),
        readable_entity_ids=readable_entity_ids,
    )
    if filters.modified_since and filters.modified_before and filters.modified_since >= filters.modified_before:
        raise BadParameter("filter[modifiedBefore]", "must be a later date than filter[modifiedSince].")
    return filters


def parse_page(args) -> Page:
    """The page size and cursor of the query string, checked."""
    size = single(args, "page[size]")
    if size is not None and not (is_number(size) and 1 <= int(size) <= MAX_PAGE_SIZE):
        raise BadParameter("page[size]", f"{size!r} is not a page size; use a whole number from 1 to {MAX_PAGE_SIZE}.")
    return Page(size=DEFAULT_PAGE_SIZE if size is None else int(size), cursor=single(args, "page[cursor]") or None)


def parse_query(args, readable_entity_ids: tuple[int, ...] | None = None) -> tuple[Filters, Page]:
    """Filters and page from the query string, for a key that reads `readable_entity_ids` (None: every entity);
    unknown parameters are refused, not ignored."""
    for name in args:
        if name not in PARAMETERS:
            raise BadParameter(name, f"unknown parameter. Allowed: {', '.join((*PARAMETERS, ALLOW_REDIRECT))}.")
    return parse_filters(args, readable_entity_ids), parse_page(args)


def parse_allow_redirect(args) -> bool:
    """Whether the query asks for a download link instead of the records: allowRedirect=true or false, in any
    case; absent is false."""
    value = single(args, ALLOW_REDIRECT)
    if value is not None and not re.match(ALLOW_REDIRECT_PATTERN, value):
        raise BadParameter(ALLOW_REDIRECT, f"{value!r} is not allowed; use true or false.")
    return value is not None and value.lower() == "true"
