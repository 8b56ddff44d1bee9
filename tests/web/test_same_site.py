"""One rule for where the app sends a browser back to: a path of this site, never another site."""

import pytest

from floqast.web.request import same_site_path


@pytest.mark.parametrize("path", ["/", "/settings/api-keys", "/settings/api-keys?status=all&page=2", "/a:b"])
def test_paths_of_this_site_are_kept(path):
    assert same_site_path(path) == path


@pytest.mark.parametrize("target", [
    None, "", "settings", "https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
    "/\tevil", "/\n/evil.example", "/\x7f", "javascript:alert(1)", "http:/settings", "///evil.example",
])
def test_anything_that_could_lead_off_the_site_is_refused(target):
    assert same_site_path(target) is None
