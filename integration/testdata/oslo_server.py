"""An oslo.messaging RPC server for warren's interoperability tests.

Usage: oslo_server.py URL EXCHANGE TOPIC SERVER TIMEOUT

It serves one endpoint, Target(namespace="calc", version="1.3"), on
Target(exchange=EXCHANGE, topic=TOPIC, server=SERVER) with the threading
executor and rpc_ping_enabled (so oslo_rpc_server_ping answers "pong"),
prints the line READY once its queues are declared, and reports every cast
it receives as a JSON line {"event": "record", ...} on stdout.
It stops, deleting its fanout queue, when its stdin is closed or after
TIMEOUT seconds, whichever comes first; it never outlives the test.
"""

import json
import logging
import os
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher

_out = threading.Lock()


def emit(obj):
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class Calc(object):
    target = messaging.Target(namespace="calc", version="1.3")

    def __init__(self, server):
        self.server = server

    def add(self, ctxt, a, b):
        return a + b

    def boom(self, ctxt):
        raise ValueError("bad thing")

    def whoami(self, ctxt):
        return self.server

    def ctx_user(self, ctxt):
        return ctxt.get("user")

    def ctx_echo(self, ctxt):
        # client_timeout is the call-monitor interval oslo adds.
        return {k: v for k, v in ctxt.items() if k != "client_timeout"}

    def slow(self, ctxt, seconds):
        time.sleep(seconds)
        return "slept"

    def record(self, ctxt, value):
        emit({"event": "record", "server": self.server, "value": value})


def main():
    url, exchange, topic, server, timeout = sys.argv[1:6]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = cfg.CONF  # oslo.messaging registers some options on it only
    conf([])
    # The dispatcher registers rpc_ping_enabled when it is built; register
    # it first to set it, as a service's configuration file would.
    conf.register_opts(rpc_dispatcher._dispatcher_opts)
    conf.set_override("rpc_ping_enabled", True)
    transport = messaging.get_rpc_transport(conf, url=url)
    target = messaging.Target(exchange=exchange, topic=topic, server=server)
    srv = messaging.get_rpc_server(
        transport, target, [Calc(server)], executor="threading",
        access_policy=messaging.DefaultRPCAccessPolicy)
    srv.start()
    print("READY", flush=True)

    stdin_closed = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stdin_closed.wait(float(timeout))

    # Bound the shutdown too: a stuck stop must not leave the process behind.
    killer = threading.Timer(15, lambda: os._exit(3))
    killer.daemon = True
    killer.start()
    srv.stop()
    srv.wait()
    transport.cleanup()
    emit({"event": "stopped"})


if __name__ == "__main__":
    main()
