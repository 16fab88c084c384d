"""The shared layer under the task collections: defines no task, imports no collection.

`tasks/*.py` are the collections `inv --list` shows; each imports only from
here. Plumbing every collection uses sits at this level; each domain that has
more than one module has its folder (db/, pitr/, swarm/, bench/, each with a
docstring of its own). Modules import only those listed above them:

    files    state files written whole or not at all
    run      one runner for every external command; Step plans, dry runs, confirm
    cli      the @task decorator: one short flag per meaning, checked arguments
    deploys  git revision and the record of deployed tags
    stack    paths, env file, compose stacks, the Docker engine, settings
    monitoring.switch  the MONITORING switch: compose profile, its images and secrets, its UIs
    db.backups  backup files: listing, checks (the backup image writes them)
    tls      the prod proxy's certificate: self-signed for a first try, what it serves
    journal  what to undo when ./inv dies mid-operation: the app paused, the proxy pinned
    lock     one lock per stack for backup, restore, transfer and deploy; recovery after a crash
    db.database  queries, readiness and the backup step against a stack's PostgreSQL
    db.restores  a dump restore's plans: checks, the scratch database, the swap and the way back
    pitr.repository  point-in-time recovery: the pgBackRest repository, its window, restore targets, drills
    pitr.cluster_restore  db.restore --to: the cluster restored beside the live one, then switched in
    db.transfer  db.transfer: SQLite data into the dev stack's PostgreSQL, counts compared
    native   the native dev server's marker, so the other dev tasks find it
    compose  plans shared by dev and prod: down, logs, one-off commands
    scan     the secret scan of built images
    checks   lint and check plans (lint.run and prod.check)
    rollout  the prod web rollout that keeps serving
    swarm.stackfile  the prod stack as a Swarm stack, generated from compose/prod
    swarm.manager  a swarm's manager, its registry, pushing by digest, waiting until converged
    swarm.data_node  the swarm's database: backup and restore on the data node
    prodplans  the prod stack's plans: preflight, build, check, back up, migrate, start
    monitoring.status  prod.status: the stack on one screen, with Prometheus's figures when monitoring is on
    bench.throwaway  free ports and env files for the benchmarks' own stacks
    bench.loadgen  wrk runs and checkout buyers, as figures (bench.load)
    bench.scenarios  the load benchmark's scenarios, ceilings and budgets
    bench.catalogue  what the proxy cache cannot serve, at each catalogue size (--products 2000,200000)
    bench.monitoring_cost  what monitoring costs the request path: off, then on, on one stack
    bench.backup_restore  backup and restore of a big database beside raw pg_dump and pg_restore
    bench.dev_stacks  the Docker dev stack beside the native stack, each cost on its own
    program  ./inv itself: task list, "did you mean", unquoted manage commands

tests/task_layer/test_task_layout.py fails when a collection imports another collection,
a module here imports a collection, or a module imports one listed below it.
"""
