"""Settings overlays for trying proposed changes under the benchmark without editing Kaiwa.

    python -m bench --settings bench.experiments.<module> --postgres --redis

Each module imports config.settings and changes one thing; the report names the module.
(None is kept at the moment: the last one, a 0.5 ms GIL switch interval, became the default
SERVER_GIL_SWITCH_INTERVAL_MS; `--server-env SERVER_GIL_SWITCH_INTERVAL_MS=0` measures
without it.)
"""
