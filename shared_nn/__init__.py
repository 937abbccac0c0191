"""shared_nn (under construction)."""
