"""Operator alerts: formatted for Telegram (`format`), kept in a durable outbox and delivered in order
(`outbox`)."""
