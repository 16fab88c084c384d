"""The shared layer under the task collections: defines no task, imports no collection.

`tasks/*.py` are the collections `inv --list` shows; each imports only from
here. Modules here import only each other, in this order (a module may use
those above it):

    files    state files written whole or not at all
    run      one runner for every external command; Step plans, dry runs, confirm
    cli      the @task decorator: one short flag per meaning, checked arguments
    deploys  git revision and the record of deployed tags
    stack    paths, env file, compose stacks, the Docker engine, settings
    backups  backup files: listing, checks (the backup image writes them)
    tls      the prod proxy's certificate: self-signed for a first try, what it serves
    journal  what to undo when ./inv dies mid-operation: the app paused, the proxy pinned
    lock     one lock per stack for backup, restore, transfer and deploy; recovery after a crash
    database queries, readiness and the backup step against a stack's PostgreSQL
    restores  a restore's plans: checks, the scratch database, the swap and the way back
    pitr     point-in-time recovery: the pgBackRest repository, its window, restore targets, drills
    pitrrestore  db.restore --to: the cluster restored beside the live one, then switched in
    transfer  db.transfer: SQLite data into the dev stack's PostgreSQL, counts compared
    compose  plans shared by dev and prod: down, logs, one-off commands
    scan     the secret scan of built images
    checks   lint and check plans (lint.run and prod.check)
    rollout  the prod web rollout that keeps serving
    swarmstack  the prod stack as a Swarm stack, generated from compose/prod
    swarmops  a swarm's manager, its registry, pushing by digest, waiting until converged
    swarmdata  the swarm's database: backup and restore on the data node
    prodplans  the prod stack's plans: preflight, build, check, back up, migrate, start
    throwaway  free ports and env files for the benchmarks' own stacks
    loadgen  wrk runs and checkout buyers, as figures (bench.load)
    loadbench  the load benchmark's scenarios, ceilings and budgets
    opsbench  backup and restore of a big database beside raw pg_dump and pg_restore
    devbench  the Docker dev stack beside the native stack, each cost on its own
    program  ./inv itself: task list, "did you mean", unquoted manage commands

tests/task_layer/test_task_layout.py fails when a collection imports another collection
or a module here imports a collection.
"""
