"""Housing: households and institutions, care need, and the dwellings each wijk needs."""
