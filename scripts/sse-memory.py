#!/usr/bin/env python3
"""Server memory per idle SSE subscriber (issue 4's benchmark item).

Usage: scripts/sse-memory.py [--bin PATH] [--subscribers 1000] [--runs 3]

Each run starts a fresh release-build server on the embedded durable backend (an empty data
directory), warms it up with one write and one subscription opened and closed (so lazily
initialised state is not charged to the subscribers), reads its VmRSS and RssAnon from
/proc/<pid>/status, opens N subscriptions on one category over N raw sockets and waits for each
one's `: ready` (sent only once the subscription is registered), reads the figures again and
prints (with N - 0 subscribers) / N. The subscribers then stay idle for 2 s and the figures are
read a third time, to see that nothing grows while they wait. Needs `ulimit -n` above N + 100.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time

TOKEN = "ns_ZGVmYXVsdA_" + "0" * 64


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


async def http(port, request):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def write_one(port, category):
    body = ('["stream.write","%s-1",{"type":"Warmup","data":{}}]' % category).encode()
    reader, writer = await http(
        port,
        b"POST /rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body,
    )
    response = await reader.read()
    writer.close()
    if b" 200 " not in response.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"warm-up write failed: {response[:300]!r}")


async def subscribe(port, category):
    """Opens a subscription and returns once `: ready` has arrived."""
    reader, writer = await http(
        port,
        b"GET /subscribe?category="
        + category.encode()
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\n\r\n",
    )
    seen = b""
    while b": ready" not in seen:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError(f"subscription closed early: {seen[:300]!r}")
        seen += chunk
    return writer


async def measure(pid, port, subscribers):
    category = "memprobe"
    await write_one(port, category)
    warm = await subscribe(port, category)
    warm.close()
    await asyncio.sleep(0.5)  # let the server notice the close; not a synchronisation point
    before = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"))
    writers = []
    # Open in batches so the listen backlog never overflows.
    for start in range(0, subscribers, 100):
        batch = [subscribe(port, category) for _ in range(start, min(start + 100, subscribers))]
        writers.extend(await asyncio.gather(*batch))
    after = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"))
    await asyncio.sleep(2)
    idle = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"))
    for w in writers:
        w.close()
    return before, after, idle


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(root, "target/release/messagedb"))
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("run rss0_KiB rss_N_KiB rss_idle_KiB anon0_KiB anon_N_KiB per_sub_rss_KiB per_sub_anon_KiB")
    for run in range(1, args.runs + 1):
        data = tempfile.mkdtemp(prefix="messagedb-sse-memory.")
        log = open(data + ".log", "w+")
        server = subprocess.Popen(
            [args.bin, "serve", "--listen", "127.0.0.1", "--port", "0",
             "--data-dir", data, "--token", TOKEN],
            stderr=log,
        )
        try:
            port = None
            for _ in range(600):
                log.seek(0)
                m = re.search(r"messagedb listening.*port=(\d+)", log.read())
                if m:
                    port = int(m.group(1))
                    break
                time.sleep(0.1)
            if port is None:
                sys.exit("server did not start")
            before, after, idle = asyncio.run(measure(server.pid, port, args.subscribers))
            n = args.subscribers
            print(
                f"{run} {before[0]} {after[0]} {idle[0]} {before[1]} {after[1]} "
                f"{(after[0] - before[0]) / n:.2f} {(after[1] - before[1]) / n:.2f}",
                flush=True,
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
