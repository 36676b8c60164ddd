"""One workflow per seed diagram. Each body reads in its diagram's order; every arrow to a store
is one activity. Nothing here runs at import: the workflow sandbox re-imports these modules."""
