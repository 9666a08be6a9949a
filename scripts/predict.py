"""Thin entry point: see fmnist_keras.cli.predict_main (--help for the options)."""

from fmnist_keras.cli import predict_main

if __name__ == "__main__":
    predict_main()
