"""Webhook delivery: publishing events to the outbox, and the dispatcher that signs and
sends them with retries."""
