"""The warehouse domain's Definitions: the shared `warehouse` resource."""

from dagster import Definitions

from dropout_pipelines.warehouse.resource import WarehouseResource

defs = Definitions(resources={"warehouse": WarehouseResource()})
