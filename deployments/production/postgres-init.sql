-- Run once by the postgres image on an empty data directory: Prefect's own database, beside
-- the engine's (POSTGRES_DB=dsar).
CREATE DATABASE prefect OWNER dsar;
