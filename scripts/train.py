"""Train a model with its reference recipe: python scripts/train.py --arch mnist_final"""

from fmnist_keras.cli import run

if __name__ == "__main__":
    run("train")
