"""The warehouse domain's Definitions: the shared `warehouse` resource and the checks on
the tables behind the ingestion and training assets."""

from dagster import Definitions

from dropout_pipelines.warehouse.checks import WAREHOUSE_CHECKS
from dropout_pipelines.warehouse.resource import WarehouseResource

defs = Definitions(asset_checks=WAREHOUSE_CHECKS, resources={"warehouse": WarehouseResource()})
