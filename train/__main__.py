"""`python -m cgan.train`: the same as `cgan-train`."""
from .launch import main

main()
