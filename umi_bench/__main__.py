from umi_bench.cli import main

main()
