-- One database for each service that keeps state: intake (its outbox), router (the triage queue
-- and corrections), followup (the tickets; migrated by Alembic at start). metrics keeps none.
-- The postgres image runs this once, as POSTGRES_USER (their owner), when its data volume is empty.
CREATE DATABASE intake;
CREATE DATABASE router;
CREATE DATABASE followup;
