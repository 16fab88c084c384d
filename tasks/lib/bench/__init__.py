"""Benchmarks (the bench collection only): throwaway stacks, the load generator and its wrk
script, the load scenarios and budgets, backup/restore at size, Docker dev vs native.
"""
