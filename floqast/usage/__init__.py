"""The API request log: capture, the per-worker buffer, daily counts, partitions, prune."""
