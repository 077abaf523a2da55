"""`python -m cgan.train`: the same as `cgan-train`."""
from .cli import main

main(prog_name="cgan-train")
