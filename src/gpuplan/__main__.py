from gpuplan.cli.main import run

run()
