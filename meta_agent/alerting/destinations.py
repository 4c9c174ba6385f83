"""Where an alert channel may send. A channel's URL is the tenant's to set (a webhook, a Slack
hook, a base URL); sent as it is, it would let a tenant admin make the server call its own
neighbours: the cloud's metadata service, a database port on localhost. Unless the operator
allows it (`METAAGENT_CHANNEL_PRIVATE_ADDRESSES`; allowed outside production, where tests and
the demo send to local servers), every request's host is resolved first and refused when any
of its addresses is not a public one.

The check resolves the name once and httpx again when it connects: a name whose answer
changes between the two (DNS rebinding) gets past it. It stops the plain cases; a deployment
that must stop that one too sends through an egress proxy that checks where it connects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx


class PrivateDestination(Exception):
    """A request whose host is, or resolves to, an address that is not public."""


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast one (not private, loopback, link-local,
    shared, reserved, unspecified or multicast)."""
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


async def refuse_private(request: httpx.Request) -> None:
    """An httpx request hook: raise `PrivateDestination` for a host that is not public. A name
    that does not resolve is left to fail on its own (the send is retried)."""
    host = request.url.host
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return
    for *_, address in found:
        if not is_public(str(address[0])):
            raise PrivateDestination(f"{host} is, or resolves to, a private address")
