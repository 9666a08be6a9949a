"""`python -m fmnist_keras model-card` as a script (--help for its options)."""

from fmnist_keras.cli import run

if __name__ == "__main__":
    run("model-card")
