"""The Dagster concurrency pool of every op and asset that writes to the warehouse.

One name, so that one limit (`concurrency.pools` in `dagster.yaml`, or
`dagster instance concurrency set warehouse_db N`) caps the database work of the whole
project: SQLite takes one writer at a time, a MySQL server a few."""

WAREHOUSE_POOL = "warehouse_db"
