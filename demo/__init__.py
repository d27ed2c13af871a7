"""Local end-to-end demo: OpCenter emulator, moto and the connector app, driven like FlytePropeller.

This package may import flytekit: it plays FlytePropeller's part and is never on the Lambda path.
``python -m demo`` starts the stack, runs the example tasks and prints what happened.
"""
