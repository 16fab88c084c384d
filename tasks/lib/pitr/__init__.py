"""Point-in-time recovery with pgBackRest: the repository and its window (repository), and the
restore of the whole cluster beside the live one, then switched in (cluster_restore).

The scripts that run inside the database image: docker/postgres/pitr-*.sh.
"""
