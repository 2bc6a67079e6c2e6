"""Router: assigns each item to a department and puts it on that department's queue."""
