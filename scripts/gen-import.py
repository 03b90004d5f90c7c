#!/usr/bin/env python3
"""Generate N messages as NDJSON export records (SPEC §9.2, §12) for benchmarking import/export.

Usage: scripts/gen-import.py --count N [--streams S] [--categories C] [--seed X] > records.ndjson

Records get global positions 1..N, a gapless position per stream, deterministic UUIDs (from the
seed) and one time per millisecond from 2025-01-01T00:00:00Z, written the way the server writes
times (SPEC §2.5), so exporting the imported records gives back the file byte for byte. The data
is the `reference-mix` payload of `messagedb bench`: a record is about 370 bytes, and 1,000,000
records about 372 MB (355 MiB), well over the 200 MiB body of SPEC §15 M127. Python 3 standard
library only.
"""

import argparse
import datetime
import random
import sys
import uuid


def format_time(t: datetime.datetime) -> str:
    """SPEC §2.5: microseconds, trailing zeros trimmed, no fraction when it is zero; so an export
    of the imported records is byte-identical to the generated file."""
    fraction = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="number of records")
    parser.add_argument("--streams", type=int, default=1000, help="number of streams")
    parser.add_argument("--categories", type=int, default=10, help="number of categories")
    parser.add_argument("--seed", type=int, default=1, help="seed for the UUIDs")
    parser.add_argument(
        "--big-stream",
        metavar="NAME:N",
        help="put N of the records in stream NAME, spread evenly among the others "
        "(e.g. purge-1:100000, for the deletion benchmark)",
    )
    args = parser.parse_args()
    if args.count < 0 or args.streams < 1 or args.categories < 1:
        parser.error("--count must be >= 0, --streams and --categories >= 1")
    big_name, big_count = None, 0
    if args.big_stream:
        big_name, _, n = args.big_stream.rpartition(":")
        if not big_name or not n.isdigit() or int(n) > args.count:
            parser.error("--big-stream takes NAME:N with N <= --count")
        big_count = int(n)
    big_version = 0

    rng = random.Random(args.seed)
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    versions = [0] * args.streams
    out = sys.stdout
    lines = []
    for gpos in range(1, args.count + 1):
        # Record gpos goes to the big stream when it moves floor(gpos * big / count) on by one.
        if big_count and gpos * big_count // args.count > (gpos - 1) * big_count // args.count:
            stream, pos = big_name, big_version
            big_version += 1
        else:
            s = rng.randrange(args.streams)
            stream, pos = f"bench{s % args.categories}-{s}", versions[s]
            versions[s] = pos + 1
        msg_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        time = format_time(base + datetime.timedelta(milliseconds=gpos))
        lines.append(
            f'{{"id":"{msg_id}","stream":"{stream}","type":"TestEvent",'
            f'"pos":{pos},"gpos":{gpos},"data":{{"counter":{gpos},"payload":"test data for '
            f'profiling with some content to make it realistic","nested":{{"field1":"value1",'
            f'"field2":42,"field3":true}}}},"meta":{{"correlationStreamName":"test-correlation",'
            f'"source":"load-test"}},"time":"{time}"}}\n'
        )
        if len(lines) == 10000:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))


if __name__ == "__main__":
    main()
