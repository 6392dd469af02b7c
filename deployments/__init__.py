"""How the engine runs: processing registers, Prefect deployments and the single-machine server."""
