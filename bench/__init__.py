"""`leadflow bench`: how fast LeadFlow is on this machine, next to the raw Kafka limit measured in the same run.

A measurement, never a test: it starts its own stack (test slot 8 by default), drives it with an open-model
load generator, times each consumer alone, and writes ``bench/results/<timestamp>.json`` plus a table.
Pure parts (statistics, schedules, result shape) live in ``stats``, ``plan`` and ``report``; everything that
touches a process, a socket or the clock lives in the phase modules.
"""
