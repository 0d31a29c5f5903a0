"""skutag benchmarks: speed, memory and quality against the peers, measured in one run."""
