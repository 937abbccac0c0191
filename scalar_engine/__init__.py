"""scalar_engine (under construction)."""
