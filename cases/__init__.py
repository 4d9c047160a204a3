"""Domain core of anjian. Importing it wires the deadline/supervision hooks into the services."""
