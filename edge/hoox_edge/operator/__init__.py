"""Queries and figures behind the operator API (`hoox_edge.workers.operator_api`).

Portable code: it reaches the ledger, KV, queues and other workers only through the ports on `env`.
"""
