# Sets keys through pylibmc (libmemcached) for ring's golden tables.
#
# Run by gen.go with Debian's /usr/bin/python3 (python3-pylibmc). Reads one
# JSON object on stdin:
#   {"servers": ["127.0.0.1:4000:2", "/tmp/x.sock", ...],
#    "behaviors": {"ketama": true, ...},
#    "keys": ["<base64>", ...], "value": "<marker>"}
# sets every key to the marker through a pylibmc.Client built from exactly
# those server specs and behaviors, and prints one JSON object describing
# the client on stdout. gen.go then finds each key on the memcached nodes
# directly.
import base64
import json
import sys

import pylibmc


def main():
    req = json.load(sys.stdin)
    client = pylibmc.Client(req["servers"], behaviors=req["behaviors"])
    value = req["value"].encode()
    for k in req["keys"]:
        key = base64.b64decode(k)
        if not client.set(key, value):
            sys.exit("pylibmc: set %r failed" % key)
    json.dump({
        "pylibmc": pylibmc.__version__,
        "libmemcached": pylibmc.libmemcached_version,
        "behaviors": client.behaviors,
    }, sys.stdout)


if __name__ == "__main__":
    main()
