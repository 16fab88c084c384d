"""Monitoring of the prod stack (docs/operations.md: monitoring): the MONITORING switch and
what it adds (switch), and the one status screen, prod.status (status).

What runs in the stack: docker/prometheus, docker/alertmanager and the exporters in compose/prod.
"""
