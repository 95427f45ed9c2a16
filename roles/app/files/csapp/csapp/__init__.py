"""Customer-service API: tickets stored in PostgreSQL and canned answers to common queries."""
