"""Train a model with its reference recipe: python scripts/train.py --arch mnist_final"""

from fmnist_keras.cli import train_main

if __name__ == "__main__":
    train_main()
