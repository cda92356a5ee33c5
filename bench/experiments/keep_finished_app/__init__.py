"""An app whose ready() applies the fix measured by bench.experiments.keep_finished."""
