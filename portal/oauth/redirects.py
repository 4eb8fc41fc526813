"""Which redirect URIs an OAuth client may register."""

from __future__ import annotations

from urllib.parse import urlsplit

from portal.errors import InvalidInput

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_REDIRECT_URIS = 20


def clean_redirect_uris(uris: list[str]) -> list[str]:
    """https URIs, or http on a loopback host (RFC 8252 §7.3, native apps).

    No fragments, no user info, no wildcards. Raises InvalidInput naming the
    first bad URI.
    """
    cleaned: list[str] = []
    for uri in uris:
        uri = uri.strip()
        if not uri:
            continue
        try:
            parts = urlsplit(uri)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            host = None
        problem = None
        if len(uri) > 2000 or not host or "*" in uri or any(c.isspace() for c in uri):
            problem = "is not a valid absolute URI"
        elif parts.fragment or "#" in uri:
            problem = "must not contain a fragment"
        elif parts.username or parts.password:
            problem = "must not contain user information"
        elif parts.scheme == "http" and host not in LOOPBACK_HOSTS:
            problem = (
                "must use https (http is allowed only for 127.0.0.1, [::1] and "
                "localhost)"
            )
        elif parts.scheme not in ("https", "http"):
            problem = "must use https"
        if problem:
            raise InvalidInput(
                f"{uri[:100]} {problem}.",
                code="invalid_redirect_uri",
                field="redirect_uris",
            )
        if uri not in cleaned:
            cleaned.append(uri)
    if len(cleaned) > MAX_REDIRECT_URIS:
        raise InvalidInput(
            f"At most {MAX_REDIRECT_URIS} redirect URIs.", field="redirect_uris"
        )
    return cleaned
