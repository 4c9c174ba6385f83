"""Request and response shapes of the API, separate from the table models in meta_agent.models."""
