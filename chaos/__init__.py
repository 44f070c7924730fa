"""`leadflow chaos`: faults under a constant load of leads with known outcomes, and counted results.

Every fault scenario runs against a real local stack (``leadflow/stack.py``): a load of leads whose routing
is known in advance keeps flowing while a service is killed, the broker or the database restarts, Slack or
SMTP misbehaves, or poison records land in the topics. At the end every stage is counted (expected vs.
observed, lost, duplicated), and the run fails when any count is off.

Layout: ``settings`` (every number), ``plan`` and ``tally`` (pure: what to send, how to count),
``poison`` (pure: the records no consumer can process), ``load``, ``observe``, ``smtp_gate``, ``faults``
(adapters), ``runner`` (the orchestration) and ``report`` (print and JSON).
"""
