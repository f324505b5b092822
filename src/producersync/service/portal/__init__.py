"""The webhook portal: an account's endpoints, tests and message attempts, as pages."""
