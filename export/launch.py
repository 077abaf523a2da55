"""The `cgan-export` entry point: a stop signal while torch and ONNX load ends it with one line."""
from cgan.train.launch import launch


def main() -> None:
    launch("cgan.export.cli", "cgan-export")
