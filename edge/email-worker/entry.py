"""Cloudflare entry of the email-worker worker (hoox_edge.workers.email).

GENERATED from edge/hoox_edge/catalog.py by `python -m hoox_edge.wrangler`: do not edit by hand.
The classes are built by hoox_edge.cloudflare.entry; the worker's code lives in hoox_edge.
"""

from hoox_edge.cloudflare.entry import entrypoint
from workers import WorkerEntrypoint  # Cloudflare's runtime SDK

Default = entrypoint("email-worker", WorkerEntrypoint)
