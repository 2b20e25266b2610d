"""The read API and the instructor page (Starlette, served by uvicorn: `make serve`)."""
