"""Thin entry point: see fmnist_keras.cli.benchmark_inference_main (--help for the options)."""

from fmnist_keras.cli import benchmark_inference_main

if __name__ == "__main__":
    benchmark_inference_main()
