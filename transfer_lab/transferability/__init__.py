"""How transferable a network's features are, measured without training the arms.
Runs in the job's measure step; each estimator declares its Measure, `registry.py` lists them."""
