"""Docker Swarm: the stack file generated from compose/prod (stackfile), the manager and registry
(manager), and the database on the data node (data_node). Used by the swarm collection only.
"""
