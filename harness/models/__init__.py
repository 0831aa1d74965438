"""numpy reference models, one module per model (``harness.models.lstm`` ...); import the module you need."""
