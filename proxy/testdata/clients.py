"""clients.py HOST:PORT CLIENT: the calls an application makes, through one
real Python memcached client, against shepherd at HOST:PORT. Prints "ok" and
exits 0, prints "skip <reason>" and exits 3 when the client is not
installed, or fails with a traceback. CLIENT is pylibmc, pymemcache,
django-pylibmc or django-pymemcache. The configurations are the ones the
README's "Point your application at shepherd" shows."""

import sys

SKIP = 3


def exercise(set_, get, get_multi, delete, incr, prefix):
    """Store, read, multi-read, count and delete, checking every answer."""
    k1, k2, n = prefix + "a", prefix + "b", prefix + "n"
    assert set_(k1, "one"), "set a"
    assert set_(k2, "two"), "set b"
    assert get(k1) == "one", "get a: %r" % (get(k1),)
    got = get_multi([k1, k2, prefix + "missing"])
    assert got == {k1: "one", k2: "two"}, "get_multi: %r" % (got,)
    set_(n, 10)
    assert incr(n) == 11, "incr"
    delete(k1)
    assert get(k1) is None, "get after delete"


def run_pylibmc(addr):
    import pylibmc
    # One server: shepherd. Placement over the real nodes is shepherd's job,
    # so no ketama behaviors here (they matter only without shepherd).
    mc = pylibmc.Client([addr], binary=False, behaviors={"tcp_nodelay": True})
    exercise(mc.set, mc.get, mc.get_multi, mc.delete, mc.incr, "pylibmc:")
    assert mc.get_stats()[0][1]["curr_items"], "stats"


def run_pymemcache(addr):
    from pymemcache.client.base import Client
    host, port = addr.rsplit(":", 1)
    mc = Client((host, int(port)), connect_timeout=1, timeout=1, encoding="utf-8",
                serde=__import__("pymemcache").serde.pickle_serde)
    exercise(mc.set, mc.get, mc.get_many, mc.delete, lambda k: mc.incr(k, 1), "pymemcache:")
    assert mc.version(), "version"


def run_django(addr, backend):
    import django
    from django.conf import settings
    settings.configure(CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.memcached." + backend,
            "LOCATION": addr,  # shepherd, the one server the app knows
            "TIMEOUT": 300,
        },
    })
    django.setup()
    from django.core.cache import cache
    prefix = "django:" + backend + ":"
    exercise(lambda k, v: cache.set(k, v) or True, cache.get, cache.get_many, cache.delete,
             cache.incr, prefix)
    assert cache.add(prefix + "added", 1) and not cache.add(prefix + "added", 2), "add"
    assert cache.touch(prefix + "added", 60), "touch"


def main():
    addr, client = sys.argv[1], sys.argv[2]
    runs = {
        "pylibmc": lambda: run_pylibmc(addr),
        "pymemcache": lambda: run_pymemcache(addr),
        "django-pylibmc": lambda: run_django(addr, "PyLibMCCache"),
        "django-pymemcache": lambda: run_django(addr, "PyMemcacheCache"),
    }
    try:
        runs[client]()
    except ImportError as e:
        print("skip %s" % e)
        sys.exit(SKIP)
    print("ok")


if __name__ == "__main__":
    main()
