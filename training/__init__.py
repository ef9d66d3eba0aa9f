"""The training module (Qt-free): synthetic data, datasets, tasks, the one training loop, recipes.

The app never imports it; the Train panel runs ``x2studio train ...`` as a subprocess.
"""
