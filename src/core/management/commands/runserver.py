"""runserver that answers on kept-alive connections at once: TCP_NODELAY on every connection.

Django's development server sends a response's headers and its body in two
writes. With Nagle's algorithm on, the body waits until the client
acknowledges the headers, and clients delay that acknowledgement by up to
40 ms: every request on a kept-alive connection (a browser's, a
requests.Session's) took 40 ms or more, whatever the view cost.
"""

import socket

from django.core.servers.basehttp import WSGIServer
from whitenoise.runserver_nostatic.management.commands.runserver import Command as NoStaticRunserver


class NoDelayWSGIServer(WSGIServer):
    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Command(NoStaticRunserver):
    """WhiteNoise's runserver (static files as in production), with TCP_NODELAY."""

    server_cls = NoDelayWSGIServer
