"""The webhook portal: an account's endpoints, tests and message attempts, as pages."""

from producersync.service.portal.app import create_portal

__all__ = ["create_portal"]
