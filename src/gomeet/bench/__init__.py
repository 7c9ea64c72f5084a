"""The benchmark harness behind `gomeet bench` (issue 4).

Scenarios: micro-hit, micro-miss (the cache layer against raw redis-py, cashews and
aiocache), api-read (the served API with the cache off, on, and on with the in-process
tier), stampede and outage. Every scenario runs its variants interleaved in rounds and
reports medians and per-round ratios; `report` renders the table, the JSON and the docs.
"""

SCENARIOS = ("micro-hit", "micro-miss", "api-read", "stampede", "outage")
