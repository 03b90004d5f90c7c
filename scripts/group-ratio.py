#!/usr/bin/env python3
"""category.get of 1,000 messages: without a consumer group against member 0 of a group of 4.

Issue 7 asks the grouped read to take at most 2x the ungrouped one. Writes 4,000 messages to
streams grp-0 .. grp-3999 (one category, one message per stream), then times 200 calls of each
read, interleaved so that drift in the machine's load hits both alike, and prints the medians.

usage: scripts/group-ratio.py PORT TOKEN   (a fresh server, e.g. the embedded backend)
"""
import http.client
import json
import statistics
import sys
import time

port, token = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port)


def rpc(body):
    conn.request("POST", "/rpc", json.dumps(body),
                 {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    assert response.status == 200, (response.status, data)
    return json.loads(data)


for i in range(4000):
    rpc(["stream.write", f"grp-{i}", {"type": "T", "data": {"n": i}}])

plain = {"position": 1, "batchSize": 1000}
grouped = {"position": 1, "batchSize": 1000, "consumerGroup": {"member": 0, "size": 4}}
times = {"plain": [], "grouped": []}
sizes = {}
for _ in range(200):
    for name, options in (("plain", plain), ("grouped", grouped)):
        started = time.perf_counter()
        messages = rpc(["category.get", "grp", options])
        times[name].append(time.perf_counter() - started)
        sizes[name] = len(messages)
a = statistics.median(times["plain"]) * 1000
b = statistics.median(times["grouped"]) * 1000
print(f"no group: {a:.2f} ms ({sizes['plain']} messages); group of 4, member 0: "
      f"{b:.2f} ms ({sizes['grouped']} messages); ratio {b / a:.2f}")
