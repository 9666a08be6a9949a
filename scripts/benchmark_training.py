"""Thin entry point: see fmnist_keras.cli.benchmark_training_main (--help for the options)."""

from fmnist_keras.cli import benchmark_training_main

if __name__ == "__main__":
    benchmark_training_main()
