"""`edgeseg bench`: what each model × decoder × backend × size costs, measured and reported."""
