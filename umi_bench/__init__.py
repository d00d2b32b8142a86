"""umi-bench."""
