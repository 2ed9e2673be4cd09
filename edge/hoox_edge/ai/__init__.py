"""The AI gateway of agent-worker: providers on their own wire formats (`wire`), the fallback chain
with retries and circuit breakers, usage and prices (`chain`)."""
