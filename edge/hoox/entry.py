"""Cloudflare entry of the hoox worker (hoox_edge.workers.gateway).

GENERATED from edge/hoox_edge/catalog.py by `python -m hoox_edge.wrangler`: do not edit by hand.
The classes are built by hoox_edge.cloudflare.entry; the worker's code lives in hoox_edge.
"""

from hoox_edge.cloudflare.entry import durable_object, entrypoint
from workers import DurableObject, WorkerEntrypoint  # Cloudflare's runtime SDK

Default = entrypoint("hoox", WorkerEntrypoint)
IdempotencyStore = durable_object("hoox", "IdempotencyStore", DurableObject)
RateLimiter = durable_object("hoox", "RateLimiter", DurableObject)
