#!/bin/sh
# First start of the postgres service only: the warehouse's own login and database beside Dagster's.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v wh_user="$WAREHOUSE_POSTGRES_USER" -v wh_password="$WAREHOUSE_POSTGRES_PASSWORD" -v wh_db="$WAREHOUSE_POSTGRES_DB" <<'SQL'
CREATE USER :"wh_user" WITH PASSWORD :'wh_password';
CREATE DATABASE :"wh_db" OWNER :"wh_user";
SQL
