"""The Streamlit dashboard (``umi-bench dashboard``): pages in ``views/``, data shaping in ``umi_bench.reports``."""
