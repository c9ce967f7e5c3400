"""An oslo.messaging peer that passes oslo.context RequestContexts and
oslo.versionedobjects objects, for warren's serializer interoperability
test.

Usage: oslo_serializer_peer.py URL EXCHANGE TOPIC SERVER GO_SERVER TIMEOUT

oslo.messaging 14 leaves the request-context serializer to each service
(nova.rpc, neutron_lib.rpc and cinder.rpc each define one); this script
defines one the same way: to_dict() going out, RequestContext.from_dict()
coming in, with oslo.versionedobjects' VersionedObjectSerializer for
entities. Its objects are nova-style: prefix "nova_object", namespace
"nova", Instance 2.1 (uuid, host, flavor) and Flavor 1.2 (name, vcpus).

It serves Target(exchange=EXCHANGE, topic=TOPIC, server=SERVER) with that
serializer:
  describe(ctxt)              what the RequestContext received holds
  inspect(ctxt, instance)     what the object received is: class, fields,
                              changed fields
  rename(ctxt, instance, host) sets instance.host and returns the object
Once its queues are declared it prints READY, then calls the warren server
GO_SERVER on the same topic, printing one JSON line per case:
  {"case": "go_context", "ok": ..., "result": ...}   method "context"
  {"case": "go_resize", "ok": ..., "result": ...}    method "resize" with an
                                                     Instance; the result
                                                     describes the object
                                                     that came back
It stops when its stdin is closed or after TIMEOUT seconds.
"""

import json
import logging
import os
import sys
import threading

from oslo_config import cfg
from oslo_context import context as oslo_context
import oslo_messaging as messaging
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

_out = threading.Lock()


def emit(obj):
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class RequestContextSerializer(messaging.Serializer):
    """Entities pass through base; contexts travel as to_dict()."""

    def __init__(self, base):
        self._base = base

    def serialize_entity(self, ctxt, entity):
        return self._base.serialize_entity(ctxt, entity)

    def deserialize_entity(self, ctxt, entity):
        return self._base.deserialize_entity(ctxt, entity)

    def serialize_context(self, ctxt):
        return ctxt.to_dict()

    def deserialize_context(self, ctxt):
        return oslo_context.RequestContext.from_dict(ctxt)


class NovaObject(ovo_base.VersionedObject):
    OBJ_SERIAL_NAMESPACE = "nova_object"
    OBJ_PROJECT_NAMESPACE = "nova"


@ovo_base.VersionedObjectRegistry.register
class Flavor(NovaObject):
    VERSION = "1.2"
    fields = {
        "name": ovo_fields.StringField(),
        "vcpus": ovo_fields.IntegerField(),
    }


@ovo_base.VersionedObjectRegistry.register
class Instance(NovaObject):
    VERSION = "2.1"
    fields = {
        "uuid": ovo_fields.StringField(),
        "host": ovo_fields.StringField(nullable=True),
        "flavor": ovo_fields.ObjectField("Flavor", nullable=True),
    }


class NovaObjectSerializer(ovo_base.VersionedObjectSerializer):
    OBJ_BASE_CLASS = NovaObject


def describe_instance(inst):
    return {
        "class": type(inst).__name__,
        "version": inst.VERSION,
        "uuid": inst.uuid,
        "host": inst.host,
        "flavor_class": type(inst.flavor).__name__,
        "flavor_name": inst.flavor.name,
        "vcpus": inst.flavor.vcpus,
        "changes": sorted(inst.obj_what_changed()),
    }


class Describer(object):
    def inspect(self, ctxt, instance):
        return describe_instance(instance)

    def rename(self, ctxt, instance, host):
        instance.obj_reset_changes(recursive=True)
        instance.host = host
        return instance

    def describe(self, ctxt):
        return {
            "class": type(ctxt).__module__ + "." + type(ctxt).__name__,
            "user_id": ctxt.user_id,
            "project_id": ctxt.project_id,
            "domain_id": ctxt.domain_id,
            "user_domain_id": ctxt.user_domain_id,
            "project_domain_id": ctxt.project_domain_id,
            "user_name": ctxt.user_name,
            "project_name": ctxt.project_name,
            "roles": ctxt.roles,
            "is_admin": ctxt.is_admin,
            "is_admin_project": ctxt.is_admin_project,
            "read_only": ctxt.read_only,
            "show_deleted": ctxt.show_deleted,
            "auth_token": ctxt.auth_token,
            "request_id": ctxt.request_id,
            "global_request_id": ctxt.global_request_id,
            "global_id": ctxt.global_id,
            "resource_uuid": ctxt.resource_uuid,
            "system_scope": ctxt.system_scope,
        }


def run(name, fn):
    try:
        emit({"case": name, "ok": True, "result": fn()})
    except Exception as e:  # report every failure to the Go test
        emit({"case": name, "ok": False, "message": "%s: %s" % (type(e).__name__, e)})


def main():
    url, exchange, topic, server, go_server, timeout = sys.argv[1:7]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = cfg.CONF  # oslo.messaging registers some options on it only
    conf([])
    conf.set_override("metrics_thread_stop_timeout", 1, group="oslo_messaging_metrics")
    transport = messaging.get_rpc_transport(conf, url=url)
    ser = RequestContextSerializer(NovaObjectSerializer())
    srv = messaging.get_rpc_server(
        transport, messaging.Target(exchange=exchange, topic=topic, server=server),
        [Describer()], executor="threading", serializer=ser,
        access_policy=messaging.DefaultRPCAccessPolicy)
    srv.start()
    print("READY", flush=True)

    client = messaging.get_rpc_client(
        transport, messaging.Target(exchange=exchange, topic=topic, server=go_server),
        timeout=20, serializer=ser)
    ctxt = oslo_context.RequestContext(
        user_id="py-user", project_id="py-project", domain_id="py-domain",
        user_domain_id="py-user-domain", project_domain_id="py-project-domain",
        roles=["reader", "member"], is_admin=True, read_only=True,
        show_deleted=False, auth_token="py-token", request_id="req-py-1",
        global_request_id="req-global-1", resource_uuid="res-1",
        is_admin_project=False, user_name="alice")
    run("go_context", lambda: client.call(ctxt, "context"))
    inst = Instance(uuid="i-py", host="py-host", flavor=Flavor(name="m1.small", vcpus=1))
    run("go_resize", lambda: describe_instance(client.call(ctxt, "resize", instance=inst, vcpus=4)))

    stdin_closed = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stdin_closed.wait(float(timeout))

    killer = threading.Timer(15, lambda: os._exit(3))
    killer.daemon = True
    killer.start()
    srv.stop()
    srv.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
