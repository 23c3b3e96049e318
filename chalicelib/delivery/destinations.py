"""Which URLs a webhook may point at, and where exactly a delivery connects (contract, section 8).

A URL is checked when the webhook is created and again at every delivery, against the addresses
its host resolves to at that moment. The delivery then connects to the very address that was
checked, so a second DNS answer cannot send it elsewhere.
"""

import concurrent.futures
import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.errors import InvalidParameter

MAX_URL_LENGTH = 2048
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, but routed as private where still in use
# getaddrinfo has no timeout of its own and cannot be interrupted, so a lookup that must end at a
# deadline runs on one of these threads and is abandoned there when the deadline comes. Bounded,
# so that names that never resolve cannot pile up threads; roomy enough that the delivery
# worker's ten concurrent deliveries do not queue behind a few abandoned lookups.
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="lookup")


class InvalidURL(InvalidParameter):
    """The URL is not an absolute http(s) URL that the service accepts."""

    code = "invalid_url"

    def __init__(self, message):
        super().__init__(message, field="url")


class UnsafeDestination(InvalidURL):
    """The URL's host is, or resolves to, an address that webhooks may not reach."""

    code = "unsafe_url"


# One answer for a name that resolves to a non-public address, fails to resolve, or takes too
# long: a caller learns nothing about the names of the network the service runs in.
NOT_PUBLIC = "url's host does not resolve to a public address, which webhooks may not reach"


class LookupTimedOut(UnsafeDestination):
    """The URL's host was not resolved within the time given."""

    def __init__(self, host):
        super().__init__(NOT_PUBLIC)
        self.host = host


@dataclass(frozen=True)
class Target:
    """One checked destination: where to connect, and what to say in Host and SNI."""

    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self):
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class _ParsedURL:
    scheme: str
    host: str
    port: int
    path: str
    literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # when the host is an address


def _parse(url):
    if not isinstance(url, str) or not url:
        raise InvalidURL("url must be an absolute http or https URL")
    return _parse_text(url)


@functools.lru_cache(maxsize=1024)  # each delivery parses its webhook's URL again: the same few, mostly
def _parse_text(url):
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"url must be at most {MAX_URL_LENGTH} characters")
    if _CONTROL_OR_SPACE.search(url):
        raise InvalidURL("url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL("url is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise InvalidURL("url must be an absolute http or https URL with a host")
    if "@" in parts.netloc:
        raise InvalidURL("url must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidURL("url must have a host")
    if port == 0:
        raise InvalidURL("url has an invalid port")
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    literal = _literal_address(host)
    if literal is None:
        host = _dns_name(host)
    return _ParsedURL(scheme, host, port, path, literal)


def _literal_address(host):
    """The address a host spells, however it spells it (``0x7f.1`` and ``2130706433`` included)."""
    if ":" in host:
        try:
            return ipaddress.ip_address(host.split("%")[0])
        except ValueError as exc:
            raise InvalidURL("url has an invalid IPv6 address") from exc
    if _NUMERIC_HOST.match(host) and not host.split(".")[-1].isalpha():
        try:
            # inet_aton accepts every legacy spelling: decimal, octal, hex and short forms.
            return ipaddress.ip_address(socket.inet_aton(host))
        except OSError as exc:
            raise InvalidURL("url has an invalid IPv4 address") from exc
    return None


def _dns_name(host):
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidURL("url has an invalid host name") from exc
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in ascii_host.split(".")):
        raise InvalidURL("url has an invalid host name")
    return ascii_host


def _embedded_ipv4(address):
    """The IPv4 address hidden in an IPv6 one (mapped, compatible, 6to4, NAT64), if any."""
    if address.version != 6:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.ip_address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.ip_address(int(address))
    return None


def is_public(address):
    """True when ``address`` is a public unicast address (and so is any IPv4 inside it)."""
    for candidate in (address, _embedded_ipv4(address)):
        if candidate is None:
            continue
        if (
            not candidate.is_global
            or candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_unspecified
            or candidate.is_reserved
            or (candidate.version == 6 and candidate in _SITE_LOCAL)
        ):
            return False
    return True


def describe(address):
    """What kind of non-public address ``address`` is, in words for the caller."""
    embedded = _embedded_ipv4(address)
    inner = f" (it carries {embedded})" if embedded is not None else ""
    candidate = embedded or address
    for test, words in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (the cloud metadata address is one)"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "the unspecified address"),
        ("is_private", "a private network's address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(candidate, test):
            return words + inner
    if candidate.version == 6 and candidate in _SITE_LOCAL:
        return "an IPv6 site-local address"
    return "an address that is not public" + inner


class DestinationPolicy:
    """Checks URLs against section 8; ``allow_networks`` are the only exemptions, and on them
    ``deny_ports`` stay closed (the local run's own AWS backend and API). With ``allowed_only``
    (``WEBHOOK_DESTINATIONS=allowed-only``) public addresses are refused too: only the allowed
    networks can be reached, so that tests and local runs never send off the machine. A name
    lookup ends after ``lookup_timeout`` seconds (None: whenever the resolver gives up)."""

    def __init__(self, allow_networks=(), resolver=socket.getaddrinfo, deny_ports=(), allowed_only=False,
                 lookup_timeout=None):
        self._allow = tuple(allow_networks)
        self._resolve = resolver
        self._deny_ports = frozenset(deny_ports)
        self._allowed_only = allowed_only
        self._lookup_timeout = lookup_timeout

    @property
    def lookup_timeout(self):
        """Seconds a name lookup may take (None: no deadline of its own)."""
        return self._lookup_timeout

    def allowed(self, address, port=None):
        if is_public(address) and not self._allowed_only:
            return True
        if port in self._deny_ports:
            return False
        embedded = _embedded_ipv4(address)
        return any(address in net or (embedded is not None and embedded in net) for net in self._allow)

    @staticmethod
    def normal_form(url):
        """``url`` in the one form that uniqueness compares (contract, section 10): scheme and
        host in lower case, no trailing dot, no default port, IP addresses in their standard
        spelling, no fragment. Raises :class:`InvalidURL` as :meth:`check` does."""
        parsed = _parse(url)
        literal = parsed.literal
        if literal is not None and literal.version == 6 and literal.ipv4_mapped:
            literal = literal.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        host = parsed.host if literal is None else str(literal)
        if ":" in host:
            host = f"[{host}]"
        default = 443 if parsed.scheme == "https" else 80
        port = "" if parsed.port == default else f":{parsed.port}"
        return f"{parsed.scheme}://{host}{port}{parsed.path}"

    def check(self, url, timeout=None):
        """Resolve ``url`` now and return the :class:`Target` to connect to, or raise; with a
        ``timeout`` (seconds, else the policy's own), :class:`LookupTimedOut` when the name takes
        longer to resolve."""
        parsed = _parse(url)
        timeout = self._lookup_timeout if timeout is None else timeout
        addresses = [parsed.literal] if parsed.literal is not None else self._lookup(parsed, timeout)
        for address in addresses:
            if not self.allowed(address, parsed.port):
                if any(address in net for net in self._allow):  # allowed, but not on that port
                    raise UnsafeDestination(f"url points at port {parsed.port} of this service's own backend, "
                                            "which webhooks may not reach")
                if is_public(address):  # refused only because of WEBHOOK_DESTINATIONS=allowed-only
                    raise UnsafeDestination("url is outside WEBHOOK_ALLOW_NETWORKS, and this service runs with "
                                            "WEBHOOK_DESTINATIONS=allowed-only (it reaches nothing else)")
                if parsed.literal is None:
                    raise UnsafeDestination(NOT_PUBLIC)
                raise UnsafeDestination(f"url points at {describe(address)}, which webhooks may not reach")
        return Target(parsed.scheme, parsed.host, parsed.port, parsed.path, str(addresses[0]))

    def _lookup(self, parsed, timeout):
        try:
            infos = self._resolved(parsed, timeout)
        except (OSError, UnicodeError) as exc:
            raise UnsafeDestination(NOT_PUBLIC) from exc
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UnsafeDestination(NOT_PUBLIC)
        return addresses

    def _resolved(self, parsed, timeout):
        if timeout is None:
            return self._resolve(parsed.host, parsed.port, 0, socket.SOCK_STREAM)
        lookup = _LOOKUPS.submit(self._resolve, parsed.host, parsed.port, 0, socket.SOCK_STREAM)
        try:
            return lookup.result(timeout)
        except concurrent.futures.TimeoutError:
            lookup.cancel()  # if it is still waiting for a thread, it never runs
            raise LookupTimedOut(parsed.host) from None
