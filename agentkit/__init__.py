"""agentkit: plain Python functions become tools; an async loop drives the model."""
