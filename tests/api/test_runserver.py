"""The development server answers on kept-alive connections without Nagle's 40 ms wait."""

import socket

from django.core.management import get_commands, load_command_class
from django.core.servers.basehttp import WSGIRequestHandler

from core.management.commands.runserver import NoDelayWSGIServer


def test_manage_py_runserver_is_ours_and_keeps_whitenoise_serving_static_files():
    command = load_command_class(get_commands()["runserver"], "runserver")
    assert command.server_cls is NoDelayWSGIServer
    assert command.create_parser("manage.py", "runserver").get_default("use_static_handler") is False


def test_every_accepted_connection_sends_at_once():
    server = NoDelayWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    try:
        with socket.create_connection(server.server_address, timeout=5):
            connection, _ = server.get_request()
            with connection:
                assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.server_close()
