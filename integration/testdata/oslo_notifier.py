"""An oslo.messaging notifier for warren's interoperability tests.

Usage: oslo_notifier.py URL EXCHANGE TOPIC COUNT TIMEOUT

It sends COUNT pairs of notifications with publisher_id "compute.py1" and
driver messagingv2 to topic TOPIC on control exchange EXCHANGE: an INFO
compute.instance.create.end and an ERROR compute.instance.create.error,
payload and context carrying the sequence number, then prints DONE and
waits for its stdin to close. It exits after TIMEOUT seconds whatever
happens, so it never outlives the test.
"""

import logging
import os
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging


def main():
    url, exchange, topic, count, timeout = sys.argv[1:6]
    killer = threading.Timer(float(timeout), lambda: os._exit(3))
    killer.daemon = True
    killer.start()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = cfg.CONF  # oslo.messaging registers some options on it only
    conf([])
    messaging.set_transport_defaults(control_exchange=exchange)
    conf.set_override("metrics_thread_stop_timeout", 1, group="oslo_messaging_metrics")
    transport = messaging.get_notification_transport(conf, url=url)
    notifier = messaging.Notifier(
        transport, publisher_id="compute.py1", driver="messagingv2", topics=[topic])
    for i in range(int(count)):
        ctxt = {"request_id": "req-py-%d" % i, "user": "py-user", "roles": ["admin", "member"]}
        payload = {
            "nova_object.name": "InstanceActionPayload",
            "nova_object.data": {"uuid": "u-%d" % i, "state": "active", "flavor": {"vcpus": 2, "memory_mb": 512}},
            "seq": i,
            "note": "h\u00e9llo \u2603",
        }
        notifier.info(ctxt, "compute.instance.create.end", payload)
        notifier.error(ctxt, "compute.instance.create.error", {"seq": i, "fault": None})
    print("DONE", flush=True)
    sys.stdin.read()
    transport.cleanup()


if __name__ == "__main__":
    main()
