"""tensor_engine (under construction)."""
