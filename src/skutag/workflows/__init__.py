"""Use cases, one module each: train, evaluate, predict, predict into the store, clean, split, inspect."""
