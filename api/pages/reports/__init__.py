"""Pages of periodic reports up the tree (issue 12): as-of statistics, submissions, the city's view."""
