"""How transferable are a network's features, measured without training the arms.

One concept per module: `features` (pooled features at every stage boundary), the estimators
(`probe`, `logme`, `hscore`, `transrate`, `leep`, `nce`), representation similarity (`cka`) and
`table`, which puts them together into one value per measure per stage.
"""
