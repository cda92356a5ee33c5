"""Settings overlays for trying proposed changes under the benchmark without editing Kaiwa.

    python -m bench --settings bench.experiments.switch_interval --postgres --redis

Each module imports config.settings and changes one thing; the report names the module.
"""
