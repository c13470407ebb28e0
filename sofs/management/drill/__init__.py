"""The failover drill (``Invoke-ClusterFailoverDrill``): see :mod:`sofs.management.drill.run`."""
