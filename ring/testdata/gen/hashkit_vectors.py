# Prints golden hash vectors for ring's hash functions, from references.
#
# Run by gen.go with /usr/bin/python3. Reads a JSON list of base64 keys on
# stdin and prints TSV rows "hash<TAB>base64 key<TAB>value (hex)":
#   - libmemcached's libhashkit (libhashkit_digest), from which twemproxy
#     copied its hashes: one_at_a_time, md5, crc32 ("crc"), fnv1_64,
#     fnv1a_64, fnv1_32, fnv1a_32, murmur, jenkins;
#   - zlib's CRC-32 for twemproxy's crc32a.
# hsieh (not built into Debian's libhashkit) and crc16 have no library
# reference here; their golden tests are nutcracker's placements.
import base64
import ctypes
import json
import sys
import zlib

# hashkit_hash_algorithm_t values from libhashkit-1.0/types.h.
HASHKIT = {
    "one_at_a_time": 0,
    "md5": 1,
    "crc32": 2,
    "fnv1_64": 3,
    "fnv1a_64": 4,
    "fnv1_32": 5,
    "fnv1a_32": 6,
    "murmur": 8,
    "jenkins": 9,
}


def main():
    lib = ctypes.CDLL("libhashkit.so.2")
    digest = lib.libhashkit_digest
    digest.restype = ctypes.c_uint32
    digest.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    keys = [base64.b64decode(k) for k in json.load(sys.stdin)]
    for name, alg in HASHKIT.items():
        for key in keys:
            row(name, key, digest(key, len(key), alg))
    for key in keys:
        row("crc32a", key, zlib.crc32(key))


def row(name, key, value):
    print("%s\t%s\t%08x" % (name, base64.b64encode(key).decode(), value))


if __name__ == "__main__":
    main()
