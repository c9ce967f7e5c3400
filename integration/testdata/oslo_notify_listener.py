"""An oslo.messaging notification listener for warren's interoperability
tests.

Usage: oslo_notify_listener.py URL EXCHANGE TOPIC POOL TIMEOUT

It listens for INFO and ERROR notifications of Target(exchange=EXCHANGE,
topic=TOPIC), in pool POOL unless it is "-", prints READY once its queues
are declared, and one JSON line per notification on stdout:

    {"priority": "info", "ctxt": {...}, "publisher_id": ..., "event_type": ...,
     "payload": ..., "metadata": {"message_id": ..., "timestamp": ...}}

It stops when its stdin is closed or after TIMEOUT seconds.
"""

import json
import logging
import os
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging

lock = threading.Lock()


def emit(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class Endpoint(object):
    def _record(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        emit({"priority": priority, "ctxt": ctxt, "publisher_id": publisher_id,
              "event_type": event_type, "payload": payload, "metadata": metadata})
        return messaging.NotificationResult.HANDLED

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._record("info", ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._record("error", ctxt, publisher_id, event_type, payload, metadata)


def main():
    url, exchange, topic, pool, timeout = sys.argv[1:6]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = cfg.CONF  # oslo.messaging registers some options on it only
    conf([])
    transport = messaging.get_notification_transport(conf, url=url)
    listener = messaging.get_notification_listener(
        transport, [messaging.Target(exchange=exchange, topic=topic)], [Endpoint()],
        executor="threading", pool=None if pool == "-" else pool)
    listener.start()
    print("READY", flush=True)

    stdin_closed = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stdin_closed.wait(float(timeout))

    killer = threading.Timer(15, lambda: os._exit(3))
    killer.daemon = True
    killer.start()
    listener.stop()
    listener.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
