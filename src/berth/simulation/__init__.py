"""Internals of the port-customer simulator; the public entry point is :mod:`berth.simulate`.

- :mod:`~berth.simulation.config`: :class:`SimulationConfig` and its documented parameter groups.
- :mod:`~berth.simulation.population`: static customer attributes and pre-drawn schedules.
- :mod:`~berth.simulation.process`: the daily latent Markov chain, shipment counts and the oracle.
- :mod:`~berth.simulation.observe`: shipments, interactions and customers tables from the latents.
- :mod:`~berth.simulation.truth`: the ground-truth table (oracle probability and realised churn).
- :mod:`~berth.simulation.regimes`: parameters drawn by seed and a signal-rich interaction mix.
"""
