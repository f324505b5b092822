"""The integration service: receive ProducerSync webhooks and keep a local mirror current.

Imports only ``producersync.client``, ``producersync.model`` and ``producersync.webhooks``
of ours: it is the carrier's system, and meets the service only over HTTP.
"""
