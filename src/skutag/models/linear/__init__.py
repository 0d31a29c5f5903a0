"""The linear model: hashed/TF-IDF features, liblinear or the SGD solver, path decoding."""
