"""An oslo.messaging RPC client driven by the Go test, for warren's
interoperability matrix.

Usage: [WARREN_TEST_OSLO_CONFIG=FILE] oslo_caller.py URL EXCHANGE TOPIC TIMEOUT

It prints READY once its transport is set up, then reads one JSON request
per line on stdin and answers each with one JSON line on stdout:

    {"id": ID, "op": "call" or "cast", "method": ..., "args": {...},
     "ctxt": {...}, "server": ..., "fanout": bool, "namespace": ...,
     "version": ..., "timeout": seconds, "call_monitor_timeout": seconds}
    -> {"id": ID, "ok": true, "result": VALUE, "type": PYTHON TYPE NAME}
    -> {"id": ID, "ok": false, "exc_class": ..., "is_value_error": ...,
        "exc_type": ..., "message": FIRST LINE OF str(exc)}

Every key but id, op and method may be left out. When stdin closes it
prints {"id": "reply_q", "ok": true, "result": REPLY QUEUE NAME or null}
and exits. It exits after TIMEOUT seconds whatever happens.
"""

import json
import logging
import os
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def oslo_config_args():
    """Returns --config-file WARREN_TEST_OSLO_CONFIG when that is set, so
    that a test can give the peer [oslo_messaging_rabbit] options."""
    path = os.environ.get("WARREN_TEST_OSLO_CONFIG")
    return ["--config-file", path] if path else []


def answer(client, req):
    prepared = {k: req[k] for k in ("server", "fanout", "namespace", "version", "timeout",
                                    "call_monitor_timeout") if k in req}
    c = client.prepare(**prepared) if prepared else client
    ctxt = req.get("ctxt", {})
    args = req.get("args", {})
    if req["op"] == "cast":
        return c.cast(ctxt, req["method"], **args)
    return c.call(ctxt, req["method"], **args)


def main():
    url, exchange, topic, timeout = sys.argv[1:5]
    killer = threading.Timer(float(timeout), lambda: os._exit(3))
    killer.daemon = True
    killer.start()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = cfg.CONF  # oslo.messaging registers some options on it only
    conf(oslo_config_args())
    conf.set_override("metrics_thread_stop_timeout", 1, group="oslo_messaging_metrics")
    transport = messaging.get_rpc_transport(conf, url=url)
    client = messaging.get_rpc_client(
        transport, messaging.Target(exchange=exchange, topic=topic), timeout=10)
    print("READY", flush=True)

    for line in sys.stdin:
        req = json.loads(line)
        try:
            result = answer(client, req)
            emit({"id": req["id"], "ok": True, "result": result, "type": type(result).__name__})
        except Exception as e:  # report every failure to the Go test
            emit({
                "id": req["id"],
                "ok": False,
                "exc_class": type(e).__name__,
                "is_value_error": isinstance(e, ValueError),
                "exc_type": getattr(e, "exc_type", None),
                "message": str(e).split("\n")[0],
            })

    emit({"id": "reply_q", "ok": True, "result": getattr(transport._driver, "_reply_q", None)})
    transport.cleanup()


if __name__ == "__main__":
    main()
