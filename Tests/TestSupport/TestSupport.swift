// Fixtures shared by the test targets (a throwaway PostgreSQL server): placeholder.
