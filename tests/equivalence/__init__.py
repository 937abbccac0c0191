"""Cross-engine equivalence properties: scalar_engine, tensor_engine and PyTorch agree."""
