"""ProducerSync end to end: the service and the integration, in one package."""

__version__ = "0.1.0"
