"""Logical backups: dump files, the database's queries and readiness, dump restores, SQLite transfers.

Used by db, prod and swarm; the physical backups (pgBackRest) are in ../pitr/.
"""
