"""An oslo.messaging RPC client for warren's interoperability tests.

Usage: [WARREN_TEST_OSLO_CONFIG=FILE] oslo_client.py URL EXCHANGE TOPIC SERVER TIMEOUT

It prints READY once its transport is set up, then calls a warren server
serving namespace "calc" at version 1.3 on Target(exchange=EXCHANGE,
topic=TOPIC) (SERVER by name in case "direct"), one case after another,
and prints one JSON line per case on stdout:

    {"case": NAME, "ok": true, "result": VALUE, "type": PYTHON TYPE NAME}
    {"case": NAME, "ok": false, "exc_class": ..., "is_value_error": ...,
     "exc_type": ..., "message": FIRST LINE OF str(exc)}

then {"case": "reply_q", "ok": true, "result": REPLY QUEUE NAME} and DONE.
It exits after TIMEOUT seconds whatever happens, so it never outlives the
test.
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


def run(name, fn):
    try:
        result = fn()
        emit({"case": name, "ok": True, "result": result, "type": type(result).__name__})
    except Exception as e:  # report every failure to the Go test
        emit({
            "case": name,
            "ok": False,
            "exc_class": type(e).__name__,
            "is_value_error": isinstance(e, ValueError),
            "exc_type": getattr(e, "exc_type", None),
            "message": str(e).split("\n")[0],
        })


def oslo_config_args():
    """Returns --config-file WARREN_TEST_OSLO_CONFIG when that is set, so
    that a test can give the peer [oslo_messaging_rabbit] options."""
    path = os.environ.get("WARREN_TEST_OSLO_CONFIG")
    return ["--config-file", path] if path else []


def main():
    url, exchange, topic, server, timeout = sys.argv[1:6]
    killer = threading.Timer(float(timeout), lambda: os._exit(3))
    killer.daemon = True
    killer.start()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = cfg.CONF  # oslo.messaging registers some options on it only
    conf(oslo_config_args())
    # Each client starts a non-daemon metrics thread that lives this long
    # (default 10 s) and holds the interpreter open at exit.
    conf.set_override("metrics_thread_stop_timeout", 1, group="oslo_messaging_metrics")
    transport = messaging.get_rpc_transport(conf, url=url)
    calc = messaging.get_rpc_client(
        transport,
        messaging.Target(exchange=exchange, topic=topic, namespace="calc", version="1.2"),
        timeout=10)
    plain = messaging.get_rpc_client(
        transport, messaging.Target(exchange=exchange, topic=topic), timeout=10)
    ctxt = {"user": "py-user", "request_id": "req-py-1"}
    print("READY", flush=True)

    run("add_int", lambda: calc.call(ctxt, "add", a=2, b=3))
    run("mul_float", lambda: calc.call(ctxt, "mul", a=1.5, b=3))
    run("echo_str", lambda: calc.call(ctxt, "echo", text="h\u00e9llo \u2603"))
    run("info_dict", lambda: calc.call(ctxt, "info"))
    run("ctx_user", lambda: calc.call(ctxt, "ctx_user"))
    run("fail_value_error", lambda: calc.call(ctxt, "fail_value_error"))
    run("fail_other_module", lambda: calc.call(ctxt, "fail"))
    run("no_such_method", lambda: calc.call(ctxt, "no_such_method"))
    run("version_2_0", lambda: calc.prepare(version="2.0").call(ctxt, "add", a=1, b=1))
    run("monitored_slow", lambda: calc.prepare(timeout=20, call_monitor_timeout=2).call(
        ctxt, "slow", seconds=3))
    run("direct", lambda: calc.prepare(server=server).call(ctxt, "whoami"))
    run("ping", lambda: plain.call({}, "oslo_rpc_server_ping"))
    # oslo sends "namespace": "" for namespace="": no default endpoint
    # answers it, not even the ping.
    empty_ns = messaging.get_rpc_client(
        transport, messaging.Target(exchange=exchange, topic=topic, namespace=""), timeout=10)
    run("ping_empty_namespace", lambda: empty_ns.call({}, "oslo_rpc_server_ping"))
    run("big_int", lambda: calc.call(ctxt, "echo_any", n=2**64 + 1, f=3.0))
    run("cast", lambda: calc.cast(ctxt, "record", value="from-python"))

    emit({"case": "reply_q", "ok": True, "result": transport._driver._reply_q})
    transport.cleanup()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
